// The inbox list: filters, the rows read so far, the next page when the end scrolls into view,
// and bulk actions on a selection.
import { useEffect, useRef, useState } from "react";
import { useMutation } from "urql";
import { ConversationRow } from "./ConversationRow";
import { mutationFailure, requestFailure } from "./format";
import type { Channel, ConversationFilter } from "./gql/graphql";
import type { InboxState, Row } from "./inbox";
import { LinkDialog, linkInput, type LinkTarget } from "./LinkDialog";
import { useNotify } from "./notices";
import { LinkConversationsMutation, StoreConversationsMutation } from "./operations";

export type Filters = {
  channel: Channel | "";
  accountId: string;
  unread: "" | "true" | "false";
  stored: "" | "true" | "false";
  matched: "" | "true" | "false";
};

export const NO_FILTERS: Filters = {
  channel: "",
  accountId: "",
  unread: "",
  stored: "",
  matched: "",
};

const CHANNELS: Channel[] = [
  "EMAIL",
  "WHATSAPP",
  "LINKEDIN",
  "INSTAGRAM",
  "TELEGRAM",
  "MESSENGER",
  "TWITTER",
  "SLACK",
];

function flag(value: Filters["unread"]): boolean | null {
  return value === "" ? null : value === "true";
}

export function toServerFilter(filters: Filters): ConversationFilter {
  return {
    channels: filters.channel ? [filters.channel] : null,
    accountIds: filters.accountId ? [filters.accountId] : null,
    unread: flag(filters.unread),
    stored: flag(filters.stored),
    matched: flag(filters.matched),
  };
}

type Account = { id: string; name: string };
type BulkResult = {
  conversationId: string;
  conversation?: Row | null;
  error: { code: string; message: string; field?: string | null } | null;
};

type Props = {
  inbox: InboxState;
  filters: Filters;
  accounts: Account[];
  openId: string | null;
  onFilters: (filters: Filters) => void;
  onMore: () => void;
  onOpen: (id: string) => void;
  onChanged: (row: Row) => void;
};

function FlagSelect({
  label,
  value,
  yes,
  no,
  onChange,
}: {
  label: string;
  value: Filters["unread"];
  yes: string;
  no: string;
  onChange: (value: Filters["unread"]) => void;
}) {
  return (
    <label>
      {label}
      <select
        aria-label={label}
        value={value}
        onChange={(event) => onChange(event.target.value as Filters["unread"])}
      >
        <option value="">any</option>
        <option value="true">{yes}</option>
        <option value="false">{no}</option>
      </select>
    </label>
  );
}

export function Inbox({
  inbox,
  filters,
  accounts,
  openId,
  onFilters,
  onMore,
  onOpen,
  onChanged,
}: Props) {
  const notify = useNotify();
  const list = useRef<HTMLOListElement>(null);
  const end = useRef<HTMLLIElement>(null);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [bulkLinking, setBulkLinking] = useState(false);
  const [, storeMany] = useMutation(StoreConversationsMutation);
  const [, linkMany] = useMutation(LinkConversationsMutation);

  // A new observer after each page: it reports at once whether the end is still in view (a
  // short page), which a kept one would not, as nothing changed for it.
  useEffect(() => {
    if (!end.current || !inbox.hasNextPage || inbox.loading || inbox.error) return;
    const observer = new IntersectionObserver(
      (entries) => {
        if (entries.some((entry) => entry.isIntersecting)) onMore();
      },
      { root: list.current, rootMargin: "300px" },
    );
    observer.observe(end.current);
    return () => observer.disconnect();
  }, [inbox.rows.length, inbox.hasNextPage, inbox.loading, inbox.error, onMore]);

  useEffect(() => setSelected(new Set()), [filters]);

  function toggle(id: string) {
    setSelected((current) => {
      const next = new Set(current);
      if (!next.delete(id)) next.add(id);
      return next;
    });
  }

  function reportBulk(action: string, results: BulkResult[]) {
    const failed = results.filter((result) => result.error);
    results.forEach((result) => result.conversation && onChanged(result.conversation));
    if (results.length > failed.length)
      notify.ok(`${action}: ${results.length - failed.length} of ${results.length} done`);
    failed.forEach(
      (result) =>
        result.error &&
        notify.error(`${action} failed for one conversation: ${mutationFailure(result.error)}`),
    );
    setSelected(new Set(failed.map((result) => result.conversationId)));
  }

  async function storeSelected() {
    const result = await storeMany({ input: { conversationIds: [...selected] } });
    const payload = result.data?.storeConversations;
    if (result.error) notify.error(`Store failed: ${requestFailure(result.error)}`);
    else if (payload?.error) notify.error(`Store failed: ${mutationFailure(payload.error)}`);
    else if (payload) reportBulk("Store", payload.results);
  }

  async function linkSelected(target: LinkTarget) {
    setBulkLinking(false);
    const items = [...selected].map((id) => linkInput(id, target));
    const result = await linkMany({ input: { items } });
    const payload = result.data?.linkConversations;
    if (result.error) notify.error(`Link failed: ${requestFailure(result.error)}`);
    else if (payload?.error) notify.error(`Link failed: ${mutationFailure(payload.error)}`);
    else if (payload) reportBulk(`Link to ${target.name}`, payload.results);
  }

  const set = (change: Partial<Filters>) => onFilters({ ...filters, ...change });
  return (
    <section className="inbox" aria-label="Inbox">
      <form className="filters" onSubmit={(event) => event.preventDefault()}>
        <label>
          Channel
          <select
            aria-label="Channel"
            value={filters.channel}
            onChange={(event) => set({ channel: event.target.value as Filters["channel"] })}
          >
            <option value="">all</option>
            {CHANNELS.map((channel) => (
              <option key={channel} value={channel}>
                {channel.toLowerCase()}
              </option>
            ))}
          </select>
        </label>
        <label>
          Account
          <select
            aria-label="Account"
            value={filters.accountId}
            onChange={(event) => set({ accountId: event.target.value })}
          >
            <option value="">all</option>
            {accounts.map((account) => (
              <option key={account.id} value={account.id}>
                {account.name}
              </option>
            ))}
          </select>
        </label>
        <FlagSelect
          label="Unread"
          value={filters.unread}
          yes="unread"
          no="read"
          onChange={(unread) => set({ unread })}
        />
        <FlagSelect
          label="CRM"
          value={filters.matched}
          yes="matched"
          no="unmatched"
          onChange={(matched) => set({ matched })}
        />
        <FlagSelect
          label="Stored"
          value={filters.stored}
          yes="stored"
          no="not stored"
          onChange={(stored) => set({ stored })}
        />
      </form>
      {selected.size > 0 && (
        <div className="bulk" role="toolbar" aria-label="Selected conversations">
          <span>{selected.size} selected</span>
          <button type="button" onClick={storeSelected}>
            Store selected
          </button>
          <button type="button" onClick={() => setBulkLinking(true)}>
            Link selected…
          </button>
          <button type="button" onClick={() => setSelected(new Set())}>
            Clear
          </button>
        </div>
      )}
      <ol className="rows" ref={list}>
        {inbox.rows.map((row) => (
          <ConversationRow
            key={row.id}
            row={row}
            selected={selected.has(row.id)}
            open={row.id === openId}
            onToggle={toggle}
            onOpen={onOpen}
          />
        ))}
        <li ref={end} className="rows-end muted">
          {inbox.error ? (
            <>
              {inbox.error}{" "}
              <button type="button" onClick={onMore}>
                Retry
              </button>
            </>
          ) : inbox.loading ? (
            "Loading…"
          ) : inbox.hasNextPage ? (
            ""
          ) : inbox.rows.length === 0 ? (
            "No conversations"
          ) : (
            "End of the inbox"
          )}
        </li>
      </ol>
      {bulkLinking && (
        <LinkDialog
          title={`Link ${selected.size} conversations`}
          onPick={linkSelected}
          onClose={() => setBulkLinking(false)}
        />
      )}
    </section>
  );
}
