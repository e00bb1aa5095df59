import type { CombinedError } from "urql";

const TIME = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const DATE = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" });
const FULL = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** Today's times as hh:mm, older ones as a date. */
export function shortTime(iso: string | null | undefined): string {
  if (!iso) return "";
  const when = new Date(iso);
  return when.toDateString() === new Date().toDateString() ? TIME.format(when) : DATE.format(when);
}

export function fullTime(iso: string): string {
  return FULL.format(new Date(iso));
}

export function fileSize(bytes: number | null | undefined): string {
  if (bytes == null) return "";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** A request's failure as the user reads it: each GraphQL error with its stable code. */
export function requestFailure(error: CombinedError): string {
  if (error.networkError) return `Network error: ${error.networkError.message}`;
  return error.graphQLErrors
    .map((item) => `${String(item.extensions?.code ?? "ERROR")}: ${item.message}`)
    .join("; ");
}

export type MutationError = { code: string; message: string; field?: string | null };

export function mutationFailure(error: MutationError): string {
  return `${error.code}: ${error.message}${error.field ? ` (${error.field})` : ""}`;
}
