// The connected accounts and their status, which changes live (accountStatusChanged).
import type { AccountFieldsFragment } from "./gql/graphql";

export type Account = AccountFieldsFragment;

export function Accounts({ accounts }: { accounts: Account[] }) {
  return (
    <ul className="accounts" aria-label="Accounts">
      {accounts.map((account) => (
        <li
          key={account.id}
          className={`account account-${account.status.toLowerCase()}`}
          data-account-id={account.id}
          data-status={account.status}
          title={account.lastError ?? account.provider}
        >
          {account.name} <span className="status">{account.status.toLowerCase()}</span>
        </li>
      ))}
    </ul>
  );
}
