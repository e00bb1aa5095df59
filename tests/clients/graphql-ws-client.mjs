// The `graphql-ws` client, as Apollo Client and urql use it, driven by tests/clients/test_javascript.py.
//
//   node graphql-ws-client.mjs '{"url", "token", "subscription", "variables", "operations": [{"name", "query"}]}'
//
// Connects with `connectionParams: {Authorization: "Bearer <token>"}`, subscribes, prints
// {"event": "subscribed"}, waits for the subscription's first event, then runs each operation in
// turn over the same socket. It prints one JSON line per thing received: {"event": "connected"},
// {"event": "next", "name", "payload"}, {"event": "error", "name", "errors"} (the protocol's
// `error` message) or {"event": "closed", "name", "code", "reason"} (the socket closed under it),
// {"event": "complete", "name"}, and {"event": "done"} last. Exits 1 after 30 s without finishing.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const SUBSCRIBED_GRACE_MS = 400;
const TIMEOUT_MS = 30_000;

const spec = JSON.parse(process.argv[2]);
const print = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);

const timeout = setTimeout(() => {
  print({ event: "timeout" });
  process.exit(1);
}, TIMEOUT_MS);

let connected;
const connection = new Promise((resolve) => {
  connected = resolve;
});

const client = createClient({
  url: spec.url,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${spec.token}` },
  // One socket for the whole run, so that the operations after an error prove it still serves.
  lazy: false,
  retryAttempts: 0,
  on: {
    connected: () => {
      print({ event: "connected" });
      connected();
    },
  },
});

// One operation's messages until it ends; `onNext` may stop it early (returning true).
function run(name, payload, onNext = () => false) {
  return new Promise((resolve) => {
    const unsubscribe = client.subscribe(payload, {
      next: (value) => {
        print({ event: "next", name, payload: value });
        if (onNext(value)) {
          unsubscribe();
          resolve();
        }
      },
      error: (error) => {
        if (Array.isArray(error)) {
          print({ event: "error", name, errors: error });
        } else {
          print({ event: "closed", name, code: error?.code, reason: error?.reason ?? String(error) });
        }
        resolve();
      },
      complete: () => {
        print({ event: "complete", name });
        resolve();
      },
    });
  });
}

const subscription = run(
  "subscription",
  { query: spec.subscription, variables: spec.variables ?? {} },
  () => true,
);
// The protocol does not acknowledge a subscription: give the server a moment to listen.
await Promise.race([connection, subscription]);
await new Promise((resolve) => setTimeout(resolve, SUBSCRIBED_GRACE_MS));
print({ event: "subscribed" });
await subscription;

for (const operation of spec.operations ?? []) {
  await run(operation.name, { query: operation.query, variables: operation.variables ?? {} });
}

await client.dispose();
clearTimeout(timeout);
print({ event: "done" });
