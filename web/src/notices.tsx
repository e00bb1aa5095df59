// What every action did, success or failure, shown at the bottom of the screen until dismissed
// (successes fade after a few seconds; errors stay).
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";

export type Notice = { id: number; kind: "ok" | "error"; text: string };
type Notify = { ok: (text: string) => void; error: (text: string) => void };

const SUCCESS_SECONDS = 6;
const NoticeContext = createContext<Notify | null>(null);

export function useNotify(): Notify {
  const notify = useContext(NoticeContext);
  if (notify === null) throw new Error("useNotify outside <NoticeProvider>");
  return notify;
}

let nextId = 1;

export function NoticeProvider({ children }: { children: ReactNode }) {
  const [notices, setNotices] = useState<Notice[]>([]);
  const dismiss = useCallback((id: number) => {
    setNotices((current) => current.filter((notice) => notice.id !== id));
  }, []);
  const push = useCallback(
    (kind: Notice["kind"], text: string) => {
      const id = nextId++;
      setNotices((current) => [...current, { id, kind, text }]);
      if (kind === "ok") window.setTimeout(() => dismiss(id), SUCCESS_SECONDS * 1000);
    },
    [dismiss],
  );
  const notify = useMemo(
    () => ({
      ok: (text: string) => push("ok", text),
      error: (text: string) => push("error", text),
    }),
    [push],
  );
  return (
    <NoticeContext.Provider value={notify}>
      {children}
      <ul className="notices" aria-live="polite">
        {notices.map((notice) => (
          <li key={notice.id} className={`notice notice-${notice.kind}`} role="status">
            <span>{notice.text}</span>
            <button type="button" aria-label="Dismiss" onClick={() => dismiss(notice.id)}>
              ×
            </button>
          </li>
        ))}
      </ul>
    </NoticeContext.Provider>
  );
}
