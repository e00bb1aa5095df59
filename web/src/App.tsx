import { useCallback, useEffect, useState } from "react";
import { Provider } from "urql";
import { openSession, type Session } from "./client";
import { NoticeProvider } from "./notices";
import { forgetToken, savedToken, saveToken } from "./session";
import { SignIn } from "./SignIn";
import { Workspace } from "./Workspace";

function SignedIn({
  token,
  onSignOut,
}: {
  token: string;
  onSignOut: (problem: string | null) => void;
}) {
  const [session, setSession] = useState<Session | null>(null);
  useEffect(() => {
    const opened = openSession(token);
    setSession(opened);
    return () => void opened.socket.dispose();
  }, [token]);
  if (!session) return null;
  return (
    <Provider value={session.client}>
      <Workspace onSignOut={onSignOut} />
    </Provider>
  );
}

export function App() {
  const [token, setToken] = useState(savedToken);
  const [problem, setProblem] = useState<string | null>(null);
  const signIn = useCallback((value: string) => {
    saveToken(value);
    setProblem(null);
    setToken(value);
  }, []);
  const signOut = useCallback((reason: string | null) => {
    forgetToken();
    setProblem(reason);
    setToken(null);
  }, []);
  return (
    <NoticeProvider>
      {token ? (
        <SignedIn token={token} onSignOut={signOut} />
      ) : (
        <SignIn problem={problem} onSignIn={signIn} />
      )}
    </NoticeProvider>
  );
}
