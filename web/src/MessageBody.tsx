// An email's HTML is hostile input. The server sanitises it (Message.html); it is shown here in
// an iframe with an empty sandbox as well: no scripts, no forms, no plugins, no top navigation,
// an opaque origin that reaches neither this page nor its token, and this page's
// Content-Security-Policy inherited by the srcdoc document (no remote images either).
type Props = { html: string | null; text: string | null };

export function MessageBody({ html, text }: Props) {
  if (html) {
    return (
      <iframe
        className="email-body"
        title="Email body"
        sandbox=""
        referrerPolicy="no-referrer"
        srcDoc={html}
      />
    );
  }
  return <p className="message-text">{text ?? ""}</p>;
}
