import { shortTime } from "./format";
import type { Row } from "./inbox";

type Participant = Row["participants"][number];

/** Subject for email, else the chat's other people by name. */
export function conversationTitle(row: Row): string {
  if (row.subject) return row.subject;
  const others = row.participants.filter((p) => !p.isSelf);
  return others.map(participantName).join(", ") || "(no subject)";
}

export function participantName(participant: Participant): string {
  return participant.displayName || participant.phoneNumber || participant.identifier;
}

export function StorageBadge({ storage }: { storage: Row["storage"] }) {
  const state = storage.stored ? "stored" : storage.shouldStore ? "should-store" : "live";
  const label = storage.stored ? "Stored" : storage.shouldStore ? "Should store" : "Not stored";
  return (
    <span
      className={`badge storage-badge storage-${state}`}
      data-stored={String(storage.stored)}
      data-should-store={String(storage.shouldStore)}
      data-reason={storage.reason}
      title={storage.storedAt ? `Stored ${storage.storedAt}` : undefined}
    >
      {label}
      {storage.reason !== "NONE" && (
        <small> · {storage.reason.toLowerCase().replaceAll("_", " ")}</small>
      )}
    </span>
  );
}

export function CrmMatchLabel({ participant }: { participant: Participant }) {
  const match = participant.crmMatch;
  if (!match) return null;
  if (match.ambiguous) return <span className="match match-ambiguous">ambiguous</span>;
  const names = [match.contact?.name, match.company?.name].filter(Boolean).join(" · ");
  if (!names) return null;
  return (
    <span className="match" title={`${match.method ?? ""} ${match.confidence ?? ""}`}>
      {names}
    </span>
  );
}

function ParticipantItem({
  participant,
  showPhone,
}: {
  participant: Participant;
  showPhone: boolean;
}) {
  return (
    <li className="participant">
      {participantName(participant)}
      {showPhone && participant.phoneNumber && participant.displayName && (
        <span className="phone"> {participant.phoneNumber}</span>
      )}
      <CrmMatchLabel participant={participant} />
    </li>
  );
}

type RowProps = {
  row: Row;
  selected: boolean;
  open: boolean;
  onToggle: (id: string) => void;
  onOpen: (id: string) => void;
};

export function ConversationRow({ row, selected, open, onToggle, onOpen }: RowProps) {
  const others = row.participants.filter((p) => !p.isSelf);
  return (
    <li
      className={`row${open ? " row-open" : ""}${row.unreadCount > 0 ? " row-unread" : ""}`}
      data-conversation-id={row.id}
    >
      <input
        type="checkbox"
        aria-label={`Select ${conversationTitle(row)}`}
        checked={selected}
        onChange={() => onToggle(row.id)}
      />
      <button type="button" className="row-body" onClick={() => onOpen(row.id)}>
        <span className="row-top">
          <span className="badge channel">{row.channel.toLowerCase()}</span>
          <strong className="row-title">{conversationTitle(row)}</strong>
          {row.isGroup && <span className="badge flag">group</span>}
          {row.hasAttachments && <span className="badge flag">attachments</span>}
          {row.unreadCount > 0 && <span className="badge unread">{row.unreadCount}</span>}
          <time className="row-time" dateTime={row.lastMessageAt ?? undefined}>
            {shortTime(row.lastMessageAt)}
          </time>
        </span>
        <span className="row-account">{row.account.name}</span>
        <ul className="participants">
          {others.map((participant, index) => (
            <ParticipantItem
              key={`${participant.identifier}-${index}`}
              participant={participant}
              showPhone={row.channel === "WHATSAPP"}
            />
          ))}
        </ul>
        {row.lastMessagePreview && <span className="preview">{row.lastMessagePreview}</span>}
        <span className="row-bottom">
          <StorageBadge storage={row.storage} />
          {row.links.map((link) => (
            <span key={link.id} className="badge link" data-kind={link.target.kind}>
              {link.target.name}
            </span>
          ))}
        </span>
      </button>
    </li>
  );
}
