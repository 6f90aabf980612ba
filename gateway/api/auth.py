"""Bearer-key checks for clients (`DISTILLGATE_API_KEYS`) and admins (`DISTILLGATE_ADMIN_KEY`)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from gateway.serving.errors import ClientError, ClientErrorType


class Authenticator:
    """Client keys are optional (no keys: open gateway); the admin key guards /admin/*."""

    def __init__(self, client_keys: tuple[str, ...], admin_key: str | None) -> None:
        self._client_keys = tuple(k.encode() for k in client_keys)
        self._admin_key = admin_key.encode() if admin_key else None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Authenticator:
        keys = tuple(
            k.strip() for k in environ.get("DISTILLGATE_API_KEYS", "").split(",") if k.strip()
        )
        return cls(keys, environ.get("DISTILLGATE_ADMIN_KEY") or None)

    @property
    def enabled(self) -> bool:
        return bool(self._client_keys)

    def check_client(self, authorization: str | None) -> None:
        if not self._client_keys:
            return
        if not _matches(_bearer(authorization), self._client_keys):
            raise _unauthorized("Missing or invalid API key; send 'Authorization: Bearer <key>'.")

    def check_admin(self, authorization: str | None) -> None:
        if self._admin_key is None:
            raise _unauthorized("Admin endpoints are disabled: DISTILLGATE_ADMIN_KEY is not set.")
        if not _matches(_bearer(authorization), (self._admin_key,)):
            raise _unauthorized("Missing or invalid admin key.")


def _bearer(authorization: str | None) -> bytes:
    if not authorization:
        return b""
    scheme, _, token = authorization.partition(" ")
    return token.strip().encode() if scheme.lower() == "bearer" else b""


def _matches(token: bytes, keys: tuple[bytes, ...]) -> bool:
    # Compare against every key, so the time taken says nothing about which one was close.
    found = False
    for key in keys:
        found |= hmac.compare_digest(token, key)
    return found and bool(token)


def _unauthorized(message: str) -> ClientError:
    return ClientError(
        ClientErrorType.AUTH,
        401,
        message,
        code="invalid_api_key",
        headers={"www-authenticate": "Bearer"},
    )
