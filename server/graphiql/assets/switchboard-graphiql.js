// Switchboard's GraphiQL page. Its settings come from the page's JSON block, so that no inline
// script runs and the Content-Security-Policy can allow scripts from this origin only.
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("switchboard-graphiql").textContent);
  var endpoint = new URL(config.endpoint, window.location.href);
  var socket = new URL(endpoint.href);
  socket.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";

  // Queries and mutations go over HTTP with the Headers editor's headers. A subscription opens a
  // graphql-ws socket (graphql-transport-ws) whose connection_init payload is those same headers,
  // {"Authorization": "Bearer ..."}, which is how the server authenticates sockets.
  var fetcher = GraphiQL.createFetcher({ url: endpoint.href, subscriptionUrl: socket.href });

  // The open tabs are kept in memory only: restored tabs would come back without their headers
  // (GraphiQL never persists them here) and hide the token this page was rendered with.
  var tabs = new Map();
  function isTabState(key) {
    return key === "graphiql:tabState";
  }
  var storage = {
    getItem: function (key) {
      if (isTabState(key)) return tabs.has(key) ? tabs.get(key) : null;
      try {
        return window.localStorage.getItem(key);
      } catch (error) {
        return null;
      }
    },
    setItem: function (key, value) {
      if (isTabState(key)) return void tabs.set(key, value);
      try {
        window.localStorage.setItem(key, value);
      } catch (error) {
        // Storage full or disabled: GraphiQL works without it.
      }
    },
    removeItem: function (key) {
      if (isTabState(key)) return void tabs.delete(key);
      try {
        window.localStorage.removeItem(key);
      } catch (error) {
        // As above.
      }
    },
    clear: function () {
      tabs.clear();
    },
    get length() {
      return tabs.size;
    },
  };

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: config.query,
      headers: config.headers,
      defaultHeaders: config.headers,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: "headers",
      storage: storage,
    })
  );
})();
