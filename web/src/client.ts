// One urql client per token: HTTP for queries and mutations, graphql-ws
// (graphql-transport-ws) for subscriptions, the token sent as the Authorization header and
// as the socket's connection_init payload.
import { cacheExchange, Client, fetchExchange, subscriptionExchange } from "urql";
import { createClient as createSocketClient, type Client as SocketClient } from "graphql-ws";

// Served by `switchboard serve`: the same origin. From the dev server (`npm run dev`):
// VITE_SWITCHBOARD_URL, by default `make run`'s API, which lets the dev server's origin call it
// (CORS_ORIGINS in the embedded mode).
const LOCAL_API = "http://127.0.0.1:8000";
const API_ORIGIN: string =
  import.meta.env.VITE_SWITCHBOARD_URL ??
  (import.meta.env.DEV ? LOCAL_API : window.location.origin);
export const GRAPHQL_URL = new URL("/graphql", API_ORIGIN).href;

export function socketUrl(httpUrl: string): string {
  const url = new URL(httpUrl);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

export type Session = { client: Client; socket: SocketClient };

export function openSession(token: string): Session {
  const authorization = `Bearer ${token}`;
  const socket = createSocketClient({
    url: socketUrl(GRAPHQL_URL),
    connectionParams: { Authorization: authorization },
    // Reconnect after a dropped connection (a server restart); a refused token closes with 4403.
    retryAttempts: Infinity,
    shouldRetry: (event) => !(event instanceof CloseEvent && event.code === 4403),
  });
  const client = new Client({
    url: GRAPHQL_URL,
    fetchOptions: () => ({ headers: { Authorization: authorization } }),
    exchanges: [
      cacheExchange,
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query ?? "" };
          return {
            subscribe(sink) {
              return { unsubscribe: socket.subscribe(input, sink) };
            },
          };
        },
      }),
    ],
  });
  return { client, socket };
}
