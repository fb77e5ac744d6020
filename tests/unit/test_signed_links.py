import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from opskit.signed_links import LinkError, LinkExpired, LinkInvalid, sign, verify

SECRET = b"0123456789abcdef0123456789abcdef"
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=14)
CLAIMS = {"item": "A1", "chain": "c-7", "action": "ack", "n": 3}


def _token():
    return sign(SECRET, CLAIMS, LATER)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_round_trip_returns_the_claims_with_expiry_and_a_nonce():
    token = _token()
    claims = verify(SECRET, token, NOW)
    assert {k: claims[k] for k in CLAIMS} == CLAIMS
    assert claims["exp"] == int(LATER.timestamp())
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16


def test_token_is_url_safe_without_padding():
    token = _token()
    assert token.count(".") == 1
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def test_links_differ_per_call():
    first, second = _token(), _token()
    assert first != second
    assert verify(SECRET, first, NOW)["jti"] != verify(SECRET, second, NOW)["jti"]


def test_expired_link_says_so_in_plain_words():
    token = _token()
    assert verify(SECRET, token, LATER - timedelta(seconds=1))
    with pytest.raises(LinkExpired, match="this link has expired; use the newest message"):
        verify(SECRET, token, LATER)


def test_expiry_works_across_timezones():
    token = sign(SECRET, CLAIMS, datetime(2026, 3, 15, 9, 0, tzinfo=UTC))
    # 10:30 in Paris on that day is 09:30 UTC: past the expiry
    with pytest.raises(LinkExpired):
        verify(SECRET, token, datetime(2026, 3, 15, 10, 30, tzinfo=ZoneInfo("Europe/Paris")))


def test_tampered_payload_is_invalid():
    payload, signature = _token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["action"] = "renew"
    with pytest.raises(LinkInvalid, match="this link is not valid"):
        verify(SECRET, f"{_b64(json.dumps(claims).encode())}.{signature}", NOW)


def test_extended_expiry_is_invalid():
    payload, signature = _token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["exp"] += 86400 * 365
    with pytest.raises(LinkInvalid):
        verify(SECRET, f"{_b64(json.dumps(claims).encode())}.{signature}", NOW)


def test_tampered_signature_is_invalid():
    payload, signature = _token().split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    with pytest.raises(LinkInvalid):
        verify(SECRET, f"{payload}.{flipped}", NOW)


def test_wrong_secret_is_invalid():
    with pytest.raises(LinkInvalid):
        verify(b"another-secret-of-32-bytes-long!", _token(), NOW)


@pytest.mark.parametrize(
    "garbage",
    ["", ".", "abc", "abc.", ".abc", "a.b.c", "not base64!.xx", "x" * 10_000, "a" * 5 + "." + "b" * 5, "é.é"],
)
def test_garbage_is_invalid(garbage):
    with pytest.raises(LinkInvalid):
        verify(SECRET, garbage, NOW)


def test_a_genuine_signature_over_non_json_is_invalid():
    payload = _b64(b"not json")
    signature = _b64(hmac.new(SECRET, payload.encode(), hashlib.sha256).digest())
    with pytest.raises(LinkInvalid):
        verify(SECRET, f"{payload}.{signature}", NOW)


def test_errors_share_a_base_class():
    assert issubclass(LinkExpired, LinkError) and issubclass(LinkInvalid, LinkError)


def test_reserved_and_odd_claims_are_refused():
    with pytest.raises(ValueError, match="reserved"):
        sign(SECRET, {"exp": 1}, LATER)
    with pytest.raises(ValueError, match="string or an integer"):
        sign(SECRET, {"flag": True}, LATER)


def test_naive_times_and_short_secrets_are_programming_errors():
    with pytest.raises(ValueError, match="timezone"):
        sign(SECRET, CLAIMS, datetime(2026, 3, 15))
    with pytest.raises(ValueError, match="timezone"):
        verify(SECRET, _token(), datetime(2026, 3, 1))
    with pytest.raises(ValueError, match="at least 16 bytes"):
        sign(b"short", CLAIMS, LATER)
