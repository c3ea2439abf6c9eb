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


class LinkSecretMissing(RuntimeError):
    """Outside dev the service does not start without ``STEWARD_SURVEY_LINK_SECRET``."""


def _secret(settings: ScoringSettings) -> bytes:
    """The link secret; in dev mode (only) derived from the dev JWT secret. Never the service token:
    it rotates with the IdP, and every link already sent would stop working."""
    if settings.survey_link_secret is not None and settings.survey_link_secret.get_secret_value():
        return settings.survey_link_secret.get_secret_value().encode()
    if settings.is_dev and settings.jwt_dev_secret is not None and settings.jwt_dev_secret.get_secret_value():
        return (settings.jwt_dev_secret.get_secret_value() + "|survey-links").encode()
    raise LinkSecretMissing("set STEWARD_SURVEY_LINK_SECRET to sign survey links")


def check_configured(settings: ScoringSettings) -> None:
    """Fail at start, not with a 500 on the first survey: called when the app is built."""
    _secret(settings)


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
