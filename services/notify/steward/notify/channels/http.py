"""HTTP channels: SMS gateway, WeCom / DingTalk / Feishu group robots, Steward signed webhooks.

Every outbound URL is validated again right before the call (:mod:`.urls`)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from steward.notify.channels.base import ChannelError, Outgoing
from steward.notify.channels.signing import (
    SIGNATURE_HEADER,
    dingtalk_signed_url,
    feishu_sign,
    steward_signature,
)
from steward.notify.channels.urls import validate_url
from steward.notify.settings import NotifySettings

CLOUDEVENTS_JSON = "application/cloudevents+json"


def _text(out: Outgoing) -> str:
    return f"{out.title}\n{out.body}".strip()


async def _post(
    client: httpx.AsyncClient, url: str, *, content: bytes, headers: dict[str, str], time_limit: float
) -> httpx.Response:
    try:
        response = await client.post(url, content=content, headers=headers, timeout=time_limit)
    except httpx.HTTPError as exc:
        raise ChannelError(f"http: {type(exc).__name__}: {exc}") from exc
    if response.status_code == 410:
        raise ChannelError("receiver answered 410 Gone", permanent=True)
    if not 200 <= response.status_code < 300:
        raise ChannelError(f"receiver answered HTTP {response.status_code}")
    return response


def _json_bytes(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _robot_result(response: httpx.Response, *keys: str) -> None:
    try:
        data = response.json()
    except ValueError:
        return
    for key in keys:
        if key in data and data[key] not in (0, "0"):
            raise ChannelError(
                f"robot refused: {key}={data[key]} {data.get('errmsg') or data.get('msg') or ''}"
            )


async def send_sms(
    out: Outgoing, settings: NotifySettings, client: httpx.AsyncClient, *, time_limit: float
) -> None:
    """Generic SMS gateway adapter: ``POST {to, text, sign_name, request_id}`` with a bearer token;
    2xx means accepted. ``request_id`` (= ``Idempotency-Key``) lets the gateway drop a re-send."""
    if not settings.sms_gateway_url:
        raise ChannelError("SMS gateway is not configured (STEWARD_SMS_GATEWAY_URL)", permanent=True)
    if "*" in out.address or not out.address:
        raise ChannelError("no usable phone number", permanent=True)
    headers = {"Content-Type": "application/json", "Idempotency-Key": out.idempotency_key}
    if settings.sms_gateway_token:
        headers["Authorization"] = f"Bearer {settings.sms_gateway_token.get_secret_value()}"
    body = {
        "to": out.address,
        "text": _text(out),
        "sign_name": settings.sms_sign_name,
        "request_id": out.idempotency_key,
    }
    await _post(
        client, settings.sms_gateway_url, content=_json_bytes(body), headers=headers, time_limit=time_limit
    )


def wecom_body(out: Outgoing) -> dict[str, Any]:
    """WeCom group robot, markdown message; mentions as ``<@userid>``."""
    mentions = " ".join(f"<@{m}>" for m in out.payload.get("mentions", {}).get("wecom", []))
    content = f"**{out.title}**\n{out.body}" + (f"\n{mentions}" if mentions else "")
    return {"msgtype": "markdown", "markdown": {"content": content[:4096]}}


def dingtalk_body(out: Outgoing) -> dict[str, Any]:
    """DingTalk custom robot, markdown message; ``at`` by mobile (mentions must appear in text)."""
    mobiles = [m for m in out.payload.get("mentions", {}).get("sms", []) if "*" not in m]
    text = f"### {out.title}\n\n{out.body}" + ("\n\n" + " ".join(f"@{m}" for m in mobiles) if mobiles else "")
    return {
        "msgtype": "markdown",
        "markdown": {"title": out.title[:64], "text": text},
        "at": {"atMobiles": mobiles, "isAtAll": False},
    }


def feishu_body(out: Outgoing, secret: str | None) -> dict[str, Any]:
    """Feishu custom bot, text message; signed in the body when the bot has a secret."""
    body: dict[str, Any] = {"msg_type": "text", "content": {"text": _text(out)}}
    if secret:
        ts, sign = feishu_sign(secret)
        body = {"timestamp": ts, "sign": sign, **body}
    return body


async def send_robot(
    out: Outgoing, settings: NotifySettings, client: httpx.AsyncClient, *, time_limit: float
) -> None:
    url = await validate_url(out.address, settings)
    headers = {"Content-Type": "application/json"}
    if out.channel == "wecom":
        response = await _post(
            client, url, content=_json_bytes(wecom_body(out)), headers=headers, time_limit=time_limit
        )
        _robot_result(response, "errcode")
    elif out.channel == "dingtalk":
        signed = dingtalk_signed_url(url, out.secret) if out.secret else url
        response = await _post(
            client, signed, content=_json_bytes(dingtalk_body(out)), headers=headers, time_limit=time_limit
        )
        _robot_result(response, "errcode")
    elif out.channel == "feishu":
        response = await _post(
            client,
            url,
            content=_json_bytes(feishu_body(out, out.secret)),
            headers=headers,
            time_limit=time_limit,
        )
        _robot_result(response, "code", "StatusCode")
    else:
        raise ChannelError(f"unknown robot channel {out.channel!r}", permanent=True)


def webhook_request(out: Outgoing) -> tuple[bytes, dict[str, str]]:
    """The exact bytes and headers of a signed Steward webhook (CloudEvents structured JSON)."""
    event = out.payload.get("event") or {}
    body = _json_bytes(event)
    headers = {
        "Content-Type": CLOUDEVENTS_JSON,
        "User-Agent": "Steward-Notify/1",
        "Steward-Delivery-Id": out.idempotency_key,
        "Idempotency-Key": out.idempotency_key,
        "Steward-Event-Id": out.event_id,
        "Steward-Event-Type": str(event.get("type", out.event_type)),
        "Ce-Id": out.event_id,
        "Ce-Specversion": "1.0",
    }
    if out.secret:
        headers[SIGNATURE_HEADER] = steward_signature(out.secret, body)
    return body, headers


async def send_webhook(
    out: Outgoing, settings: NotifySettings, client: httpx.AsyncClient, *, time_limit: float
) -> None:
    url = await validate_url(out.address, settings)
    body, headers = webhook_request(out)
    await _post(client, url, content=body, headers=headers, time_limit=time_limit)
