"""One-time answer links: ``<survey id>.<HMAC-SHA256>`` signed with the service's link secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

import structlog

from steward.kit.errors import NotFound
from steward.scoring.settings import ScoringSettings

log = structlog.get_logger(__name__)


def _secret(settings: ScoringSettings) -> bytes:
    for value in (settings.survey_link_secret, settings.jwt_dev_secret, settings.service_token):
        if value is not None and value.get_secret_value():
            return value.get_secret_value().encode()
    raise RuntimeError("set STEWARD_SURVEY_LINK_SECRET to sign survey links")


def sign(settings: ScoringSettings, survey_id: uuid.UUID) -> str:
    mac = hmac.new(_secret(settings), f"survey:{survey_id}".encode(), hashlib.sha256).digest()
    return f"{survey_id}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


def verify(settings: ScoringSettings, token: str) -> uuid.UUID:
    """The survey id of a valid token; anything else looks like a missing survey."""
    sid, _, _ = token.partition(".")
    try:
        survey_id = uuid.UUID(sid)
    except ValueError as exc:
        raise NotFound("survey not found") from exc
    if not hmac.compare_digest(sign(settings, survey_id), token):
        raise NotFound("survey not found")
    return survey_id
