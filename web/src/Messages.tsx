// A conversation's messages, oldest at the top: sender, direction, to and cc, time, the body
// (an email's HTML in its sandboxed frame) and attachments.
import type { RefObject } from "react";
import { fileSize, fullTime } from "./format";
import type { ConversationQuery } from "./gql/graphql";
import { MessageBody } from "./MessageBody";

export type Message = NonNullable<
  ConversationQuery["conversation"]
>["messages"]["edges"][number]["node"];
type Recipient = Message["recipients"][number];

function names(recipients: Recipient[]): string {
  return recipients.map((r) => r.displayName || r.identifier).join(", ");
}

function MessageItem({ message }: { message: Message }) {
  const to = message.recipients.filter((r) => r.role === "TO");
  const cc = message.recipients.filter((r) => r.role === "CC");
  return (
    <li
      className={`message message-${message.direction.toLowerCase()}`}
      data-message-id={message.id}
    >
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
              {attachment.name ?? "attachment"}{" "}
              <small className="muted">{fileSize(attachment.size)}</small>
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}

type Props = {
  newestFirst: Message[];
  hasOlder: boolean;
  onOlder: () => void;
  listRef: RefObject<HTMLOListElement | null>;
};

export function Messages({ newestFirst, hasOlder, onOlder, listRef }: Props) {
  return (
    <ol className="messages" ref={listRef}>
      {hasOlder && (
        <li>
          <button type="button" onClick={onOlder}>
            Load older messages
          </button>
        </li>
      )}
      {[...newestFirst].reverse().map((message) => (
        <MessageItem key={message.id} message={message} />
      ))}
    </ol>
  );
}
