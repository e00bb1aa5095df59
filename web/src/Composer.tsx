// Reply-all for an email thread, a new message for a chat; each send has an idempotency key,
// so that a retried click sends once.
import { useState, type FormEvent } from "react";
import { useMutation } from "urql";
import { mutationFailure, requestFailure } from "./format";
import { ReplyToConversationMutation, SendMessageMutation } from "./operations";
import { useNotify } from "./notices";

type Props = { conversationId: string; isEmail: boolean; onSent: () => void };

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Plain text as the HTML body of a reply: one paragraph per blank-line-separated block. */
export function textToHtml(text: string): string {
  return text
    .split(/\n{2,}/)
    .map((block) => `<p>${escapeHtml(block).replace(/\n/g, "<br>")}</p>`)
    .join("");
}

function addresses(list: string): string[] {
  return list.split(/[,;\s]+/).filter(Boolean);
}

export function Composer({ conversationId, isEmail, onSent }: Props) {
  const notify = useNotify();
  const [text, setText] = useState("");
  const [cc, setCc] = useState("");
  const [key, setKey] = useState(() => crypto.randomUUID());
  const [sending, send] = useMutation(SendMessageMutation);
  const [replying, reply] = useMutation(ReplyToConversationMutation);
  const busy = sending.fetching || replying.fetching;

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!text.trim()) return;
    const result = isEmail
      ? await reply({
          input: { conversationId, html: textToHtml(text), cc: addresses(cc), idempotencyKey: key },
        })
      : await send({ input: { conversationId, text, idempotencyKey: key } });
    const payload = result.data
      ? "replyToConversation" in result.data
        ? result.data.replyToConversation
        : result.data.sendMessage
      : null;
    if (result.error) notify.error(`Not sent: ${requestFailure(result.error)}`);
    else if (payload?.error) notify.error(`Not sent: ${mutationFailure(payload.error)}`);
    else {
      notify.ok(isEmail ? "Reply sent to all" : "Message sent");
      setText("");
      setCc("");
      setKey(crypto.randomUUID());
      onSent();
    }
  }

  return (
    <form className="composer" onSubmit={submit}>
      {isEmail && (
        <input
          aria-label="Cc"
          placeholder="Cc (comma-separated addresses)"
          value={cc}
          onChange={(event) => setCc(event.target.value)}
        />
      )}
      <textarea
        aria-label={isEmail ? "Reply to all" : "Message"}
        placeholder={isEmail ? "Reply to all…" : "Write a message…"}
        value={text}
        onChange={(event) => setText(event.target.value)}
        rows={3}
      />
      <button type="submit" disabled={busy || !text.trim()}>
        {isEmail ? "Reply all" : "Send"}
      </button>
    </form>
  );
}
