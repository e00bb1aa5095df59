// One conversation: its people and their CRM matches, what is stored and linked, the actions,
// the messages (newest at the bottom, older ones on demand) and the composer.
import { useEffect, useRef, useState } from "react";
import { useClient, useMutation, useQuery } from "urql";
import { Composer } from "./Composer";
import { conversationTitle, CrmMatchLabel, participantName, StorageBadge } from "./ConversationRow";
import { fileSize, fullTime, mutationFailure, requestFailure, type MutationError } from "./format";
import type { ConversationQuery as ConversationData } from "./gql/graphql";
import type { Row } from "./inbox";
import { LinkDialog, linkInput, type LinkTarget } from "./LinkDialog";
import { MessageBody } from "./MessageBody";
import { useNotify } from "./notices";
import {
  ConversationQuery,
  CreateContactFromParticipantMutation,
  ForgetConversationMutation,
  LinkConversationMutation,
  StoreConversationMutation,
  UnlinkConversationMutation,
} from "./operations";

type Conversation = NonNullable<ConversationData["conversation"]>;
type Message = Conversation["messages"]["edges"][number]["node"];
type Props = { id: string; refreshKey: number; onChanged: (row: Row) => void; onClose: () => void };
type Outcome = { error: MutationError | null; conversation?: Row | null } | null | undefined;

export function ConversationView({ id, refreshKey, onChanged, onClose }: Props) {
  const client = useClient();
  const notify = useNotify();
  const [{ data, fetching, error }, refetch] = useQuery({
    query: ConversationQuery,
    variables: { id },
    requestPolicy: "network-only",
  });
  const [older, setOlder] = useState<{ messages: Message[]; endCursor: string | null } | null>(null);
  const [linking, setLinking] = useState(false);
  const [forgetting, setForgetting] = useState(false);
  const [, link] = useMutation(LinkConversationMutation);
  const [, unlink] = useMutation(UnlinkConversationMutation);
  const [, store] = useMutation(StoreConversationMutation);
  const [, forget] = useMutation(ForgetConversationMutation);
  const [, createContact] = useMutation(CreateContactFromParticipantMutation);
  const messageList = useRef<HTMLOListElement>(null);
  const newestId = data?.conversation?.messages.edges[0]?.node.id;

  useEffect(() => setOlder(null), [id]);
  // The newest message in view when the conversation opens and when one arrives.
  useEffect(() => {
    const list = messageList.current;
    if (list) list.scrollTop = list.scrollHeight;
  }, [newestId]);
  useEffect(() => {
    if (refreshKey > 0) refetch({ requestPolicy: "network-only" });
  }, [refreshKey, refetch]);

  const conversation = data?.conversation;
  if (error && !conversation) return <section className="conversation error">{requestFailure(error)}</section>;
  if (!conversation) {
    return (
      <section className="conversation muted">{fetching ? "Loading…" : "This conversation is not there."}</section>
    );
  }

  const reload = () => refetch({ requestPolicy: "network-only" });

  /** Shows what a mutation did; true when it did it. */
  function report(
    action: string,
    failure: Parameters<typeof requestFailure>[0] | undefined,
    outcome: Outcome,
    success: string,
  ): boolean {
    if (failure) notify.error(`${action} failed: ${requestFailure(failure)}`);
    else if (outcome?.error) notify.error(`${action} failed: ${mutationFailure(outcome.error)}`);
    else {
      if (outcome?.conversation) onChanged(outcome.conversation);
      notify.ok(success);
      return true;
    }
    return false;
  }

  async function linkTo(target: LinkTarget) {
    setLinking(false);
    const result = await link({ input: linkInput(id, target) });
    if (report("Link", result.error, result.data?.linkConversation, `Linked to ${target.name}`)) reload();
  }

  async function unlinkFrom(target: LinkTarget) {
    const result = await unlink({ input: linkInput(id, target) });
    if (report("Unlink", result.error, result.data?.unlinkConversation, `Unlinked from ${target.name}`)) {
      reload();
    }
  }

  async function storeIt() {
    const result = await store({ input: { conversationId: id } });
    const added = result.data?.storeConversation.messagesAdded ?? 0;
    if (report("Store", result.error, result.data?.storeConversation, `Stored (${added} messages added)`)) {
      reload();
    }
  }

  async function forgetIt(alsoUnlink: boolean) {
    setForgetting(false);
    const result = await forget({ input: { conversationId: id, unlink: alsoUnlink } });
    const payload = result.data?.forgetConversation;
    const done = payload?.forgotten ? "Stored copy forgotten" : "Nothing was stored";
    if (report("Forget", result.error, payload, done)) {
      const fresh = await client.query(ConversationQuery, { id }, { requestPolicy: "network-only" }).toPromise();
      if (fresh.data?.conversation) onChanged(fresh.data.conversation);
    }
  }

  async function contactFrom(identifier: string, name: string) {
    const result = await createContact({ input: { conversationId: id, identifier } });
    const payload = result.data?.createContactFromParticipant;
    if (report("Create contact", result.error, payload, `Contact ${payload?.contact?.name ?? name} created`)) {
      const fresh = await client.query(ConversationQuery, { id }, { requestPolicy: "network-only" }).toPromise();
      if (fresh.data?.conversation) onChanged(fresh.data.conversation);
      reload();
    }
  }

  async function loadOlder() {
    const after = older?.endCursor ?? conversation?.messages.pageInfo.endCursor ?? null;
    const result = await client.query(ConversationQuery, { id, after }, { requestPolicy: "network-only" }).toPromise();
    const page = result.data?.conversation?.messages;
    if (result.error) notify.error(`Older messages: ${requestFailure(result.error)}`);
    if (!page) return;
    setOlder((current) => ({
      messages: [...(current?.messages ?? []), ...page.edges.map((edge) => edge.node)],
      endCursor: page.pageInfo.hasNextPage ? page.pageInfo.endCursor ?? null : null,
    }));
  }

  const newestFirst = [...conversation.messages.edges.map((edge) => edge.node), ...(older?.messages ?? [])];
  const hasOlder = older ? older.endCursor !== null : conversation.messages.pageInfo.hasNextPage;
  const isEmail = conversation.channel === "EMAIL";
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
      <div className="conversation-state">
        <StorageBadge storage={conversation.storage} />
        {conversation.links.map((item) => (
          <span key={item.id} className="badge link" data-kind={item.target.kind}>
            {item.target.name}
            <button
              type="button"
              className="unlink"
              aria-label={`Unlink ${item.target.name}`}
              onClick={() => unlinkFrom({ kind: item.target.kind, id: item.target.id, name: item.target.name })}
            >
              ×
            </button>
          </span>
        ))}
      </div>
      <div className="actions">
        <button type="button" disabled={!conversation.canLink} onClick={() => setLinking(true)}>
          Link…
        </button>
        <button type="button" disabled={!conversation.canLink} onClick={storeIt}>
          Store
        </button>
        {conversation.storage.stored && !forgetting && (
          <button type="button" onClick={() => setForgetting(true)}>
            Forget…
          </button>
        )}
        {forgetting && (
          <span className="confirm">
            Delete the stored copy?
            <button type="button" onClick={() => forgetIt(false)}>Forget</button>
            {conversation.links.length > 0 && (
              <button type="button" onClick={() => forgetIt(true)}>Unlink and forget</button>
            )}
            <button type="button" onClick={() => setForgetting(false)}>Cancel</button>
          </span>
        )}
      </div>
      <ul className="people">
        {conversation.participants.map((participant, index) => (
          <li key={`${participant.identifier}-${index}`}>
            <span className="role">{participant.role.toLowerCase()}</span> {participantName(participant)}
            {participant.displayName && <small className="muted"> {participant.phoneNumber ?? participant.identifier}</small>}
            <CrmMatchLabel participant={participant} />
            {!participant.isSelf && !participant.crmMatch?.contact && (
              <button
                type="button"
                className="small"
                onClick={() => contactFrom(participant.identifier, participantName(participant))}
              >
                Create contact
              </button>
            )}
          </li>
        ))}
      </ul>
      <ol className="messages" ref={messageList}>
        {hasOlder && (
          <li>
            <button type="button" onClick={loadOlder}>Load older messages</button>
          </li>
        )}
        {[...newestFirst].reverse().map((message) => (
          <MessageItem key={message.id} message={message} />
        ))}
      </ol>
      <Composer conversationId={id} isEmail={isEmail} onSent={reload} />
      {linking && (
        <LinkDialog title="Link this conversation" onPick={linkTo} onClose={() => setLinking(false)} />
      )}
    </section>
  );
}

function MessageItem({ message }: { message: Message }) {
  const to = message.recipients.filter((r) => r.role === "TO");
  const cc = message.recipients.filter((r) => r.role === "CC");
  const names = (list: typeof to) => list.map((r) => r.displayName || r.identifier).join(", ");
  return (
    <li className={`message message-${message.direction.toLowerCase()}`} data-message-id={message.id}>
      <header>
        <strong>{message.sender.displayName || message.sender.identifier}</strong>
        <span className="muted"> {message.direction === "INBOUND" ? "received" : "sent"}</span>
        <time dateTime={message.sentAt}>{fullTime(message.sentAt)}</time>
      </header>
      {to.length > 0 && <div className="recipients">To: {names(to)}</div>}
      {cc.length > 0 && <div className="recipients">Cc: {names(cc)}</div>}
      <MessageBody html={message.html} text={message.text} />
      {message.attachments.length > 0 && (
        <ul className="attachments">
          {message.attachments.map((attachment, index) => (
            <li key={index}>
              {attachment.name ?? "attachment"} <small className="muted">{fileSize(attachment.size)}</small>
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}
