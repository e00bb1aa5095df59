// The token step: a bearer token from `switchboard token --email …` (or the CRM's own token);
// in the embedded demo the server pre-fills one for alice.
import { useState, type FormEvent } from "react";
import { demoToken } from "./session";

type Props = { problem: string | null; onSignIn: (token: string) => void };

export function SignIn({ problem, onSignIn }: Props) {
  const [token, setToken] = useState(demoToken);
  function submit(event: FormEvent) {
    event.preventDefault();
    if (token.trim()) onSignIn(token.trim());
  }
  return (
    <main className="sign-in">
      <h1>Switchboard</h1>
      <form onSubmit={submit}>
        <label htmlFor="token">Bearer token</label>
        <textarea
          id="token"
          rows={4}
          value={token}
          onChange={(event) => setToken(event.target.value)}
        />
        <p className="muted">
          {demoToken()
            ? "Pre-filled with the demo token of alice@demo.switchboard.test."
            : "Print one with: switchboard token --email alice@demo.switchboard.test"}
        </p>
        {problem && (
          <p className="error" role="alert">
            {problem}
          </p>
        )}
        <button type="submit">Sign in</button>
      </form>
    </main>
  );
}
