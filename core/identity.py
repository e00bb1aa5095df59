"""Who is asking: the user and workspace a verified token names."""

from __future__ import annotations

from dataclasses import dataclass

from core.vocabulary import Role


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a token names. `role` is not in the token: it is read from the user's row when the
    request verifies that the user still exists and is active."""

    user_id: int
    workspace_id: int
    role: Role = Role.MEMBER

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN
