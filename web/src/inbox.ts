// The inbox as the screen holds it: the pages read so far, in the server's order, and the live
// events that moved conversations to the top since.
import type { ConversationFilter, ConversationRowFieldsFragment } from "./gql/graphql";

export type Row = ConversationRowFieldsFragment;

export type InboxState = {
  rows: Row[];
  endCursor: string | null;
  hasNextPage: boolean;
  loading: boolean;
  error: string | null;
};

export type InboxAction =
  | { type: "reset" }
  | { type: "loading" }
  | { type: "page"; rows: Row[]; endCursor: string | null; hasNextPage: boolean }
  | { type: "failed"; error: string }
  | { type: "live"; row: Row; filter: ConversationFilter }
  | { type: "changed"; row: Row }
  | { type: "gone"; id: string };

export const EMPTY_INBOX: InboxState = {
  rows: [],
  endCursor: null,
  hasNextPage: true,
  loading: false,
  error: null,
};

export function inboxReducer(state: InboxState, action: InboxAction): InboxState {
  switch (action.type) {
    case "reset":
      return EMPTY_INBOX;
    case "loading":
      return { ...state, loading: true, error: null };
    case "page":
      return {
        rows: appendPage(state.rows, action.rows),
        endCursor: action.endCursor,
        hasNextPage: action.hasNextPage,
        loading: false,
        error: null,
      };
    case "failed":
      return { ...state, loading: false, error: action.error };
    case "live":
      return { ...state, rows: moveToTop(state.rows, action.row, action.filter) };
    case "changed":
      return {
        ...state,
        rows: state.rows.map((row) => (row.id === action.row.id ? action.row : row)),
      };
    case "gone":
      return { ...state, rows: state.rows.filter((row) => row.id !== action.id) };
  }
}

/** A page after the rows so far; one a live event already put on top stays where it is. */
export function appendPage(rows: Row[], page: Row[]): Row[] {
  const shown = new Set(rows.map((row) => row.id));
  return [...rows, ...page.filter((row) => !shown.has(row.id))];
}

/** The conversation on top, as it is now; off the list if it no longer fits the filter. */
export function moveToTop(rows: Row[], row: Row, filter: ConversationFilter): Row[] {
  const others = rows.filter((existing) => existing.id !== row.id);
  return fitsFilter(row, filter) ? [row, ...others] : others;
}

export function isMatched(row: Row): boolean {
  return row.participants.some((p) => p.crmMatch?.contact || p.crmMatch?.company);
}

/** The server's filter, as far as a row tells: for conversations that arrive live. */
export function fitsFilter(row: Row, filter: ConversationFilter): boolean {
  if (filter.channels?.length && !filter.channels.includes(row.channel)) return false;
  if (filter.accountIds?.length && !filter.accountIds.includes(row.account.id)) return false;
  if (filter.unread != null && filter.unread !== row.unreadCount > 0) return false;
  if (filter.stored != null && filter.stored !== row.storage.stored) return false;
  if (filter.matched != null && filter.matched !== isMatched(row)) return false;
  return true;
}
