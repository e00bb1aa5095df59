// What can be done to a conversation: link (search dialog), unlink, store, forget (asked
// twice: it deletes the stored copy, and a linked one only with its links).
import { useState } from "react";
import { StorageBadge } from "./ConversationRow";
import type { Row } from "./inbox";
import { LinkDialog, type LinkTarget } from "./LinkDialog";

type Props = {
  conversation: Row;
  onLink: (target: LinkTarget) => void;
  onUnlink: (target: LinkTarget) => void;
  onStore: () => void;
  onForget: (alsoUnlink: boolean) => void;
};

export function ConversationActions({ conversation, onLink, onUnlink, onStore, onForget }: Props) {
  const [linking, setLinking] = useState(false);
  const [forgetting, setForgetting] = useState(false);
  const forget = (alsoUnlink: boolean) => {
    setForgetting(false);
    onForget(alsoUnlink);
  };
  return (
    <>
      <div className="conversation-state">
        <StorageBadge storage={conversation.storage} />
        {conversation.links.map(({ id, target }) => (
          <span key={id} className="badge link" data-kind={target.kind}>
            {target.name}
            <button
              type="button"
              className="unlink"
              aria-label={`Unlink ${target.name}`}
              onClick={() => onUnlink({ kind: target.kind, id: target.id, name: target.name })}
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
        <button type="button" disabled={!conversation.canLink} onClick={onStore}>
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
            <button type="button" onClick={() => forget(false)}>
              Forget
            </button>
            {conversation.links.length > 0 && (
              <button type="button" onClick={() => forget(true)}>
                Unlink and forget
              </button>
            )}
            <button type="button" onClick={() => setForgetting(false)}>
              Cancel
            </button>
          </span>
        )}
      </div>
      {linking && (
        <LinkDialog
          title="Link this conversation"
          onPick={(target) => {
            setLinking(false);
            onLink(target);
          }}
          onClose={() => setLinking(false)}
        />
      )}
    </>
  );
}
