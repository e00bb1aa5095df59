// The signed-in screen: who is signed in, the accounts, the inbox and the open conversation,
// kept current by the three subscriptions.
import { useCallback, useEffect, useReducer, useRef, useState } from "react";
import { useClient, useQuery } from "urql";
import { Accounts, type Account } from "./Accounts";
import { ConversationView } from "./ConversationView";
import { requestFailure } from "./format";
import { EMPTY_INBOX, inboxReducer, type Row } from "./inbox";
import { Inbox, NO_FILTERS, toServerFilter, type Filters } from "./Inbox";
import { useNotify } from "./notices";
import {
  AccountStatusSubscription,
  ConversationUpdatedSubscription,
  InboxQuery,
  MessageReceivedSubscription,
  ViewerQuery,
} from "./operations";
import { conversationPath, navigate, openConversationId, usePathname } from "./router";

const PAGE_SIZE = 50;

type Props = { onSignOut: (problem: string | null) => void };

export function Workspace({ onSignOut }: Props) {
  const client = useClient();
  const notify = useNotify();
  const openId = openConversationId(usePathname());
  const [{ data: viewer, error: viewerError }] = useQuery({ query: ViewerQuery });
  const [accounts, setAccounts] = useState<Account[]>([]);
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [inbox, dispatch] = useReducer(inboxReducer, EMPTY_INBOX);
  const [refreshKey, setRefreshKey] = useState(0);
  // The filter of the pages being read: an answer for an older filter is dropped.
  const generation = useRef(0);
  const cursor = useRef<{ endCursor: string | null; loading: boolean }>({
    endCursor: null,
    loading: false,
  });
  const serverFilter = useRef(toServerFilter(filters));
  const openRef = useRef(openId);
  openRef.current = openId;

  useEffect(() => {
    if (viewer) setAccounts(viewer.accounts);
  }, [viewer]);

  useEffect(() => {
    const code = viewerError?.graphQLErrors[0]?.extensions?.code;
    if (code === "UNAUTHENTICATED")
      onSignOut(`The token was refused: ${requestFailure(viewerError!)}`);
  }, [viewerError, onSignOut]);

  const loadPage = useCallback(async () => {
    if (cursor.current.loading) return;
    const ticket = generation.current;
    cursor.current.loading = true;
    dispatch({ type: "loading" });
    const result = await client
      .query(
        InboxQuery,
        { first: PAGE_SIZE, after: cursor.current.endCursor, filter: serverFilter.current },
        { requestPolicy: "network-only" },
      )
      .toPromise();
    if (ticket !== generation.current) return;
    cursor.current.loading = false;
    const page = result.data?.conversations;
    // Accounts that failed upstream are named in errors beside the others' conversations.
    if (result.error && page) notify.error(requestFailure(result.error));
    if (!page) {
      dispatch({
        type: "failed",
        error: result.error ? requestFailure(result.error) : "No answer",
      });
      return;
    }
    cursor.current.endCursor = page.pageInfo.endCursor ?? null;
    dispatch({
      type: "page",
      rows: page.edges.map((edge) => edge.node),
      endCursor: page.pageInfo.endCursor ?? null,
      hasNextPage: page.pageInfo.hasNextPage,
    });
  }, [client, notify]);

  useEffect(() => {
    generation.current += 1;
    serverFilter.current = toServerFilter(filters);
    cursor.current = { endCursor: null, loading: false };
    dispatch({ type: "reset" });
    void loadPage();
  }, [filters, loadPage]);

  useEffect(() => {
    const touched = (id: string) => id === openRef.current && setRefreshKey((key) => key + 1);
    const subscriptions = [
      client.subscription(MessageReceivedSubscription, {}).subscribe((result) => {
        const event = result.data?.messageReceived;
        if (result.error) notify.error(`Live messages: ${requestFailure(result.error)}`);
        if (!event) return;
        dispatch({ type: "live", row: event.conversation, filter: serverFilter.current });
        touched(event.conversation.id);
      }),
      client.subscription(ConversationUpdatedSubscription, {}).subscribe((result) => {
        const event = result.data?.conversationUpdated;
        if (result.error) notify.error(`Live updates: ${requestFailure(result.error)}`);
        if (!event) return;
        if (event.conversation) {
          dispatch({ type: "live", row: event.conversation, filter: serverFilter.current });
        } else {
          dispatch({ type: "gone", id: event.conversationId });
        }
        touched(event.conversationId);
      }),
      client.subscription(AccountStatusSubscription, {}).subscribe((result) => {
        const account = result.data?.accountStatusChanged;
        if (result.error) notify.error(`Account status: ${requestFailure(result.error)}`);
        if (!account) return;
        setAccounts((current) => current.map((item) => (item.id === account.id ? account : item)));
      }),
    ];
    return () => subscriptions.forEach((subscription) => subscription.unsubscribe());
  }, [client, notify]);

  const changed = useCallback((row: Row) => dispatch({ type: "changed", row }), []);
  const user = viewer?.viewer.user;
  return (
    <div className={`workspace${openId ? " with-conversation" : ""}`}>
      <header className="top">
        <h1>Switchboard</h1>
        <span className="muted">{viewer?.viewer.workspace.name}</span>
        <Accounts accounts={accounts} />
        <span className="viewer">{user?.email}</span>
        <button type="button" onClick={() => onSignOut(null)}>
          Sign out
        </button>
      </header>
      {viewerError && !viewer && (
        <p className="error" role="alert">
          {requestFailure(viewerError)}
        </p>
      )}
      <Inbox
        inbox={inbox}
        filters={filters}
        accounts={accounts}
        openId={openId}
        onFilters={setFilters}
        onMore={loadPage}
        onOpen={(id) => navigate(conversationPath(id))}
        onChanged={changed}
      />
      {openId && (
        <ConversationView
          key={openId}
          id={openId}
          refreshKey={refreshKey}
          onChanged={changed}
          onClose={() => navigate("/")}
        />
      )}
    </div>
  );
}
