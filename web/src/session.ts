// The bearer token: typed in on the sign-in screen (pre-filled with the demo token the server
// puts in index.html in its embedded mode) and kept for this tab only.
const STORAGE_KEY = "switchboard.token";
const DEMO_TOKEN_META = "switchboard-demo-token";

export function demoToken(): string {
  const meta = document.querySelector<HTMLMetaElement>(`meta[name="${DEMO_TOKEN_META}"]`);
  return meta?.content ?? "";
}

export function savedToken(): string | null {
  return sessionStorage.getItem(STORAGE_KEY);
}

export function saveToken(token: string): void {
  sessionStorage.setItem(STORAGE_KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}
