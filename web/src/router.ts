// Two places: the inbox (`/`) and a conversation (`/conversations/<id>`), in the address bar so
// that a reload or a shared link opens the same conversation.
import { useEffect, useState } from "react";

const CONVERSATION_PREFIX = "/conversations/";

export function conversationPath(id: string): string {
  return CONVERSATION_PREFIX + encodeURIComponent(id);
}

export function openConversationId(pathname: string): string | null {
  if (!pathname.startsWith(CONVERSATION_PREFIX)) return null;
  return decodeURIComponent(pathname.slice(CONVERSATION_PREFIX.length)) || null;
}

export function navigate(path: string): void {
  window.history.pushState(null, "", path);
  window.dispatchEvent(new PopStateEvent("popstate"));
}

export function usePathname(): string {
  const [pathname, setPathname] = useState(window.location.pathname);
  useEffect(() => {
    const update = () => setPathname(window.location.pathname);
    window.addEventListener("popstate", update);
    return () => window.removeEventListener("popstate", update);
  }, []);
  return pathname;
}
