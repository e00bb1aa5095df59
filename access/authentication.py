"""Who a bearer token names, whichever signed it: Switchboard itself, or the CRM."""

from __future__ import annotations

from access.crm_tokens import (
    CrmTokenConfig,
    CrmTokenSetupError,
    CrmTokenVerifier,
    unverified_issuer,
)
from access.provisioning import Provisioner
from access.tokens import OWN_ISSUER, bearer_token, decode_token
from core.identity import Identity


class Authenticator:
    """Switchboard's own tokens are verified with its signing key; a token whose `iss` is the
    CRM's is verified with the CRM's keys and provisions its workspace and user."""

    def __init__(
        self, signing_key: str, crm: CrmTokenVerifier | None, provisioner: Provisioner
    ) -> None:
        self._signing_key = signing_key
        self._crm = crm
        self._provisioner = provisioner

    @classmethod
    def from_config(cls, signing_key: str, crm_tokens: CrmTokenConfig) -> Authenticator:
        """Raises `CrmTokenSetupError` for settings naming a key it cannot use."""
        if crm_tokens.issuer == OWN_ISSUER:
            raise CrmTokenSetupError("CRM_JWT_ISSUER", f"{OWN_ISSUER!r} is Switchboard's own")
        return cls(signing_key, CrmTokenVerifier.from_config(crm_tokens), Provisioner())

    async def aclose(self) -> None:
        if self._crm is not None:
            await self._crm.aclose()

    async def identity(self, authorization: str | None) -> Identity:
        """The identity of an `Authorization: Bearer <token>` value; `TokenRefused` says why
        there is none."""
        token = bearer_token(authorization)
        if self._crm is not None and unverified_issuer(token) == self._crm.issuer:
            claims = await self._crm.verify(token)
            return await self._provisioner.identity(claims)
        return decode_token(token, self._signing_key)
