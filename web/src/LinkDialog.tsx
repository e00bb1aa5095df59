// Picks a contact or company from the CRM by search, for linking one or several conversations.
import { useEffect, useRef, useState } from "react";
import { useQuery } from "urql";
import { requestFailure } from "./format";
import { SearchCrmQuery } from "./operations";

export type LinkTarget = { kind: "CONTACT" | "COMPANY"; id: string; name: string };

type Props = { title: string; onPick: (target: LinkTarget) => void; onClose: () => void };

export function linkInput(conversationId: string, target: LinkTarget) {
  return target.kind === "CONTACT"
    ? { conversationId, contactId: target.id }
    : { conversationId, companyId: target.id };
}

export function LinkDialog({ title, onPick, onClose }: Props) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [search, setSearch] = useState("");
  const [{ data, fetching, error }] = useQuery({
    query: SearchCrmQuery,
    variables: { search: search.trim() || null },
    requestPolicy: "cache-and-network",
  });

  useEffect(() => {
    dialog.current?.showModal();
  }, []);

  const contacts = data?.contacts.edges.map((edge) => edge.node) ?? [];
  const companies = data?.companies.edges.map((edge) => edge.node) ?? [];
  return (
    <dialog ref={dialog} className="link-dialog" onClose={onClose} aria-label={title}>
      <h2>{title}</h2>
      <input
        type="search"
        autoFocus
        placeholder="Search contacts and companies"
        aria-label="Search contacts and companies"
        value={search}
        onChange={(event) => setSearch(event.target.value)}
      />
      {error && <p className="error">{requestFailure(error)}</p>}
      {fetching && !data && <p className="muted">Searching…</p>}
      <h3 id="link-contacts">Contacts</h3>
      <ul className="candidates" aria-labelledby="link-contacts">
        {contacts.map((contact) => (
          <li key={contact.id}>
            <button
              type="button"
              onClick={() => onPick({ kind: "CONTACT", id: contact.id, name: contact.name })}
            >
              {contact.name}
              <small>
                {" "}
                {[contact.company?.name, contact.emails[0]?.value].filter(Boolean).join(" · ")}
              </small>
            </button>
          </li>
        ))}
        {data && contacts.length === 0 && <li className="muted">No contact found</li>}
      </ul>
      <h3 id="link-companies">Companies</h3>
      <ul className="candidates" aria-labelledby="link-companies">
        {companies.map((company) => (
          <li key={company.id}>
            <button
              type="button"
              onClick={() => onPick({ kind: "COMPANY", id: company.id, name: company.name })}
            >
              {company.name}
              <small> {company.domains.join(", ")}</small>
            </button>
          </li>
        ))}
        {data && companies.length === 0 && <li className="muted">No company found</li>}
      </ul>
      <button type="button" onClick={() => dialog.current?.close()}>
        Cancel
      </button>
    </dialog>
  );
}
