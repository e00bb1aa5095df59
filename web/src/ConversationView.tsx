// One conversation: its people and their CRM matches, what is stored and linked, the actions,
// the messages (newest at the bottom, older ones on demand) and the composer. Each action's
// outcome is shown, and the inbox's row takes the conversation as the answer gives it.
import { useEffect, useRef, useState } from "react";
import { useClient, useMutation, useQuery, type CombinedError } from "urql";
import { Composer } from "./Composer";
import { ConversationActions } from "./ConversationActions";
import { conversationTitle } from "./ConversationRow";
import { mutationFailure, requestFailure, type MutationError } from "./format";
import type { Row } from "./inbox";
import { linkInput, type LinkTarget } from "./LinkDialog";
import { Messages, type Message } from "./Messages";
import { useNotify } from "./notices";
import {
  ConversationQuery,
  CreateContactFromParticipantMutation,
  ForgetConversationMutation,
  LinkConversationMutation,
  StoreConversationMutation,
  UnlinkConversationMutation,
} from "./operations";
import { People } from "./People";

type Props = { id: string; refreshKey: number; onChanged: (row: Row) => void; onClose: () => void };
type Outcome = { error: MutationError | null; conversation?: Row | null } | null | undefined;
type Older = { messages: Message[]; endCursor: string | null };

export function ConversationView({ id, refreshKey, onChanged, onClose }: Props) {
  const client = useClient();
  const notify = useNotify();
  const [{ data, fetching, error }, refetch] = useQuery({
    query: ConversationQuery,
    variables: { id },
    requestPolicy: "network-only",
  });
  const [older, setOlder] = useState<Older | null>(null);
  const [, link] = useMutation(LinkConversationMutation);
  const [, unlink] = useMutation(UnlinkConversationMutation);
  const [, store] = useMutation(StoreConversationMutation);
  const [, forget] = useMutation(ForgetConversationMutation);
  const [, createContact] = useMutation(CreateContactFromParticipantMutation);
  const messageList = useRef<HTMLOListElement>(null);
  const newestId = data?.conversation?.messages.edges[0]?.node.id;

  // The newest message in view when the conversation opens and when one arrives.
  useEffect(() => {
    const list = messageList.current;
    if (list) list.scrollTop = list.scrollHeight;
  }, [newestId]);
  useEffect(() => {
    if (refreshKey > 0) refetch({ requestPolicy: "network-only" });
  }, [refreshKey, refetch]);

  const conversation = data?.conversation;
  if (!conversation) {
    const problem = error ? requestFailure(error) : null;
    return (
      <section className={`conversation ${problem ? "error" : "muted"}`}>
        {problem ?? (fetching ? "Loading…" : "This conversation is not there.")}
      </section>
    );
  }

  /** The conversation read again, for the view and the inbox's row. */
  async function reload() {
    const fresh = await client
      .query(ConversationQuery, { id }, { requestPolicy: "network-only" })
      .toPromise();
    if (fresh.data?.conversation) onChanged(fresh.data.conversation);
    refetch({ requestPolicy: "network-only" });
  }

  /** Shows what a mutation did; true when it did it. */
  function report(action: string, failure: CombinedError | undefined, outcome: Outcome) {
    if (failure) notify.error(`${action} failed: ${requestFailure(failure)}`);
    else if (outcome?.error) notify.error(`${action} failed: ${mutationFailure(outcome.error)}`);
    else {
      if (outcome?.conversation) onChanged(outcome.conversation);
      return true;
    }
    return false;
  }

  async function linkTo(target: LinkTarget) {
    const result = await link({ input: linkInput(id, target) });
    if (report("Link", result.error, result.data?.linkConversation)) {
      notify.ok(`Linked to ${target.name}`);
      refetch({ requestPolicy: "network-only" });
    }
  }

  async function unlinkFrom(target: LinkTarget) {
    const result = await unlink({ input: linkInput(id, target) });
    if (report("Unlink", result.error, result.data?.unlinkConversation)) {
      notify.ok(`Unlinked from ${target.name}`);
      refetch({ requestPolicy: "network-only" });
    }
  }

  async function storeIt() {
    const result = await store({ input: { conversationId: id } });
    const payload = result.data?.storeConversation;
    if (report("Store", result.error, payload)) {
      notify.ok(`Stored (${payload?.messagesAdded ?? 0} messages added)`);
      refetch({ requestPolicy: "network-only" });
    }
  }

  async function forgetIt(alsoUnlink: boolean) {
    const result = await forget({ input: { conversationId: id, unlink: alsoUnlink } });
    const payload = result.data?.forgetConversation;
    if (report("Forget", result.error, payload)) {
      notify.ok(payload?.forgotten ? "Stored copy forgotten" : "Nothing was stored");
      await reload();
    }
  }

  async function contactFrom(participant: Row["participants"][number]) {
    const input = { conversationId: id, identifier: participant.identifier };
    const result = await createContact({ input });
    const payload = result.data?.createContactFromParticipant;
    if (report("Create contact", result.error, payload)) {
      notify.ok(`Contact ${payload?.contact?.name ?? participant.identifier} created`);
      await reload();
    }
  }

  async function loadOlder() {
    const after = older?.endCursor ?? conversation?.messages.pageInfo.endCursor ?? null;
    const result = await client
      .query(ConversationQuery, { id, after }, { requestPolicy: "network-only" })
      .toPromise();
    const page = result.data?.conversation?.messages;
    if (result.error) notify.error(`Older messages: ${requestFailure(result.error)}`);
    if (!page) return;
    setOlder((current) => ({
      messages: [...(current?.messages ?? []), ...page.edges.map((edge) => edge.node)],
      endCursor: page.pageInfo.hasNextPage ? (page.pageInfo.endCursor ?? null) : null,
    }));
  }

  const latest = conversation.messages.edges.map((edge) => edge.node);
  const hasOlder = older ? older.endCursor !== null : conversation.messages.pageInfo.hasNextPage;
  return (
    <section className="conversation" aria-label={conversationTitle(conversation)}>
      <header className="conversation-header">
        <button type="button" className="close" aria-label="Close conversation" onClick={onClose}>
          ←
        </button>
        <h2>{conversationTitle(conversation)}</h2>
        <span className="muted">
          {conversation.account.name} · {conversation.channel.toLowerCase()}
          {conversation.source !== "LIVE" && ` · ${conversation.source.toLowerCase()} copy`}
        </span>
      </header>
      <ConversationActions
        conversation={conversation}
        onLink={linkTo}
        onUnlink={unlinkFrom}
        onStore={storeIt}
        onForget={forgetIt}
      />
      <People participants={conversation.participants} onCreateContact={contactFrom} />
      <Messages
        newestFirst={[...latest, ...(older?.messages ?? [])]}
        hasOlder={hasOlder}
        onOlder={loadOlder}
        listRef={messageList}
      />
      <Composer
        conversationId={id}
        isEmail={conversation.channel === "EMAIL"}
        onSent={() => refetch({ requestPolicy: "network-only" })}
      />
    </section>
  );
}
