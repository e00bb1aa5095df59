// Who is in a conversation, with their CRM match, and a contact to create for those without.
import { CrmMatchLabel, participantName } from "./ConversationRow";
import type { Row } from "./inbox";

type Participant = Row["participants"][number];
type Props = { participants: Participant[]; onCreateContact: (participant: Participant) => void };

export function People({ participants, onCreateContact }: Props) {
  return (
    <ul className="people">
      {participants.map((participant, index) => (
        <li key={`${participant.identifier}-${index}`}>
          <span className="role">{participant.role.toLowerCase()}</span>{" "}
          {participantName(participant)}
          {participant.displayName && (
            <small className="muted"> {participant.phoneNumber ?? participant.identifier}</small>
          )}
          {participant.isSelf && <small className="muted"> (this account)</small>}
          <CrmMatchLabel participant={participant} />
          {!participant.isSelf && !participant.crmMatch?.contact && (
            <button type="button" className="small" onClick={() => onCreateContact(participant)}>
              Create contact
            </button>
          )}
        </li>
      ))}
    </ul>
  );
}
