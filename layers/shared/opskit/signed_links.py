"""Signed, expiring tokens for action links in emails ("click to confirm").

A token is `<payload>.<signature>`: the payload is URL-safe base64 (no padding) of compact JSON claims,
the signature URL-safe base64 of HMAC-SHA256 over the payload text. Claims are readable, not secret: put
IDs in them, never personal data. Every token carries a random `jti`, so two links for the same action
differ and a caller can record used `jti`s to refuse a second use.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from datetime import datetime

RESERVED = frozenset({"exp", "jti"})
MIN_SECRET_BYTES = 16
MAX_TOKEN_CHARS = 4096  # refuse absurd input before doing any work on it
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")  # strict: the decoder would silently skip other characters


class LinkError(Exception):
    """A link that cannot be used. The message is fit to show to the person who clicked it."""


class LinkExpired(LinkError):
    def __init__(self) -> None:
        super().__init__("this link has expired; use the newest message")


class LinkInvalid(LinkError):
    def __init__(self) -> None:
        super().__init__("this link is not valid")


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, payload: str) -> bytes:
    return hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest()


def _check_secret(secret: bytes) -> None:
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the link signing secret must be at least {MIN_SECRET_BYTES} bytes (32 advised)")


def _aware(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must carry a timezone (an aware datetime)")
    return moment


def sign(secret: bytes, claims: Mapping[str, str | int], expires_at: datetime) -> str:
    """A token for `claims`, valid until `expires_at` (aware). Claim names "exp" and "jti" are reserved."""
    _check_secret(secret)
    clash = RESERVED & claims.keys()
    if clash:
        raise ValueError(f"claim names {sorted(clash)} are reserved")
    for key, value in claims.items():
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise ValueError(f'claim "{key}" must be a string or an integer')
    body = {
        **claims,
        "exp": int(_aware(expires_at, "expires_at").timestamp()),
        "jti": secrets.token_urlsafe(12),
    }
    payload = _b64encode(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    return f"{payload}.{_b64encode(_mac(secret, payload))}"


def verify(secret: bytes, token: str, now: datetime) -> dict:
    """The claims of a genuine, unexpired token (with "exp" and "jti").

    Raises LinkInvalid for anything forged, altered, truncated or signed with another secret, and
    LinkExpired for a genuine token past its expiry. The signature is checked before the payload is read."""
    _check_secret(secret)
    moment = int(_aware(now, "now").timestamp())
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise LinkInvalid()
    payload, dot, signature = token.strip().partition(".")
    if not dot or not _SEGMENT.fullmatch(payload) or not _SEGMENT.fullmatch(signature):
        raise LinkInvalid()
    try:
        given = _b64decode(signature)
    except (binascii.Error, ValueError):
        raise LinkInvalid() from None
    if not hmac.compare_digest(_mac(secret, payload), given):
        raise LinkInvalid()
    try:
        claims = json.loads(_b64decode(payload).decode("utf-8"))
    except (binascii.Error, ValueError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise LinkInvalid() from None
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int) or "jti" not in claims:
        raise LinkInvalid()
    if moment >= claims["exp"]:
        raise LinkExpired()
    return claims
