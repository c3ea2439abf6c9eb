"""Survey links are signed with their own secret: outside dev the service refuses to start without
one (never a 500 on the first survey), and the service token is never used as the key."""

from __future__ import annotations

import uuid

import pytest
from pydantic import SecretStr

from steward.scoring.app import build
from steward.scoring.settings import ScoringSettings
from steward.scoring.surveys import links
from steward.scoring.testing import scoring_settings


def _settings(**extra: object) -> ScoringSettings:
    return scoring_settings(
        "postgresql+asyncpg://u@127.0.0.1:1/x", "nats://127.0.0.1:1", "127.0.0.1:1", **extra
    )


def test_production_without_a_link_secret_does_not_start() -> None:
    settings = _settings(environment="production", jwt_dev_secret=None, service_token=SecretStr("t" * 40))
    with pytest.raises(links.LinkSecretMissing):
        build(settings)


def test_links_verify_with_the_configured_secret_only() -> None:
    sid = uuid.uuid4()
    prod = _settings(environment="production", jwt_dev_secret=None, survey_link_secret=SecretStr("s" * 32))
    token = links.sign(prod, sid)
    assert links.verify(prod, token) == sid
    other = _settings(environment="production", jwt_dev_secret=None, survey_link_secret=SecretStr("o" * 32))
    with pytest.raises(Exception, match="survey not found"):
        links.verify(other, token)
    dev = _settings()  # dev: derived from the dev secret, and not the same MAC as the raw dev secret
    assert links.verify(dev, links.sign(dev, sid)) == sid
