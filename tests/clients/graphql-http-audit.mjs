// The GraphQL-over-HTTP spec's server audits (the `graphql-http` package's `auditServer`), driven
// by tests/clients/test_graphql_http.py.
//
//   node graphql-http-audit.mjs URL [TOKEN]
//
// Runs every audit against URL, sending `Authorization: Bearer TOKEN` with each request when a
// token is given, and prints one JSON array: [{"id", "name", "status", "reason"?, "httpStatus"?,
// "body"?}], where `name` starts with MUST, SHOULD or MAY and `status` is "ok" for a pass.
import { auditServer } from "graphql-http";

const [url, token] = process.argv.slice(2);

const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers);
  if (token) headers.set("authorization", `Bearer ${token}`);
  return fetch(input, { ...init, headers });
};

const results = await auditServer({ url, fetchFn });
const printed = [];
for (const { id, name, status, reason, response } of results) {
  const line = { id, name, status };
  if (status !== "ok") {
    line.reason = reason;
    line.httpStatus = response?.status;
    try {
      line.body = await response.text();
    } catch {
      // The audit read the body already.
    }
  }
  printed.push(line);
}
process.stdout.write(`${JSON.stringify(printed)}\n`);
