"""GitHub's `X-Hub-Signature-256`: HMAC-SHA256 of the raw body, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from pydantic import SecretStr

SIGNATURE_PREFIX = "sha256="


def sign(secret: SecretStr | str, body: bytes) -> str:
    """The header value GitHub sends for `body` under `secret` (also used by tests and the fake)."""
    key = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    return SIGNATURE_PREFIX + hmac.digest(key.encode(), body, hashlib.sha256).hex()


def verify(body: bytes, header: str | None, secrets: Iterable[SecretStr | None]) -> bool:
    """True when `header` is the signature of `body` under any of `secrets` (current, then previous).

    Every configured secret is compared, match or not, so the time taken does not reveal which one
    (or whether the first one) matched.
    """
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    received = header.encode()
    matched = False
    for secret in secrets:
        if secret is not None:
            matched |= hmac.compare_digest(sign(secret, body).encode(), received)
    return matched
