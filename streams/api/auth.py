"""Bearer tokens with roles for the API: viewer reads, operator acknowledges and silences,
admin may also force what the guards refuse.

Tokens come from settings (`EARFUL_API__TOKENS`, secrets as `SecretStr`). A presented token is
compared with every configured one in constant time (`hmac.compare_digest`, no early exit), so
the answer's timing says nothing about how close a guess was. Writes read the token only from
the `Authorization` header, never from a cookie, so another site cannot make a browser act for
its user (no CSRF); reads also accept the `earful_token` cookie the dashboard sets, so the
pages work when reads are not public.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import HTTPException, Request

from earful.settings import ROLE_RANK, ApiSettings, Role

COOKIE = "earful_token"

HOW_TO_CONFIGURE = (
    "no API token is configured, so writes are disabled: create one with `earful api-token "
    "--name you --role operator` and set the EARFUL_API__TOKENS it prints"
)


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role

    def may(self, role: Role) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


ANONYMOUS = Principal("anonymous", "viewer")


class Authenticator:
    def __init__(self, settings: ApiSettings):
        self.settings = settings
        self._tokens = [(t.token.get_secret_value().encode(), t) for t in settings.tokens]

    def identify(self, presented: str) -> Principal | None:
        found = None
        candidate = presented.encode()
        for secret, token in self._tokens:  # no early exit: same work for every guess
            if hmac.compare_digest(secret, candidate):
                found = Principal(token.name, token.role)
        return found

    def _presented(self, request: Request, *, cookie: bool) -> str | None:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        if cookie:
            return request.cookies.get(COOKIE)
        return None

    def check(self, request: Request, role: Role) -> Principal:
        """The caller, if they may act with `role`; else 401 (who are you) or 403 (not you)."""
        reading = role == "viewer"
        presented = self._presented(request, cookie=reading)
        if presented is None:
            if reading and self.settings.public_read:
                return ANONYMOUS
            if not self._tokens:
                raise HTTPException(403, HOW_TO_CONFIGURE)
            raise HTTPException(
                401,
                f"this needs a bearer token with the {role} role (Authorization: Bearer <token>)",
                headers={"WWW-Authenticate": 'Bearer realm="earful"'},
            )
        principal = self.identify(presented)
        if principal is None:
            raise HTTPException(
                401,
                "unknown or revoked token",
                headers={"WWW-Authenticate": 'Bearer realm="earful", error="invalid_token"'},
            )
        if not principal.may(role):
            raise HTTPException(
                403, f"token '{principal.name}' has the {principal.role} role; this needs {role}"
            )
        return principal
