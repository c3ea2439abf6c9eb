"""Signatures: Steward's generic webhook scheme, and the DingTalk / Feishu robot schemes.

Steward webhooks (documented for receivers in docs/notify.md)::

    Steward-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>

Receivers recompute the HMAC over the exact raw body bytes, compare in constant time and refuse
timestamps older than five minutes (replay protection). Several ``v1=`` values may appear while a
secret is rotated; any match is valid."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import quote_plus

SIGNATURE_HEADER = "Steward-Signature"
TOLERANCE_SECONDS = 300


def steward_signature(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify_steward_signature(
    secret: str, body: bytes, header: str, *, tolerance: int = TOLERANCE_SECONDS, now: float | None = None
) -> bool:
    items = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamps = [v for k, v in items if k.strip() == "t"]
    sigs = [v for k, v in items if k.strip() == "v1"]
    if len(stamps) != 1 or not sigs or not stamps[0].isdigit():
        return False
    t = int(stamps[0])
    if abs((time.time() if now is None else now) - t) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, s.strip()) for s in sigs)


def dingtalk_signed_url(url: str, secret: str, *, timestamp_ms: int | None = None) -> str:
    """DingTalk custom robot 加签: sign = urlencode(base64(HmacSHA256(secret, f"{ts}\\n{secret}")))."""
    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    string_to_sign = f"{ts}\n{secret}".encode()
    digest = hmac.new(secret.encode(), string_to_sign, hashlib.sha256).digest()
    sign = quote_plus(base64.b64encode(digest))
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}timestamp={ts}&sign={sign}"


def feishu_sign(secret: str, *, timestamp: int | None = None) -> tuple[str, str]:
    """Feishu/Lark custom bot 签名校验: HmacSHA256 keyed with f"{ts}\\n{secret}" over an empty
    message, base64; sent in the body as ``timestamp`` (seconds, string) and ``sign``."""
    ts = int(time.time()) if timestamp is None else timestamp
    key = f"{ts}\n{secret}".encode()
    sign = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    return str(ts), sign
