"""Settings and streams a platform provisions: the database URL from a mounted file
(``STEWARD_DATABASE_URL_FILE``) and JetStream streams created by a controller
(``STEWARD_EVENTS_STREAMS_MANAGED``: the services only look them up)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from steward.kit.bus import DLQ_STREAM, EventBus
from steward.kit.settings import ServiceSettings


def test_database_url_is_read_from_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "url"
    secret.write_text(
        "postgresql+asyncpg://steward_issues:s3cret@pg-rw:5432/steward_issues\n", encoding="utf-8"
    )
    monkeypatch.setenv("STEWARD_DATABASE_URL", "postgresql+asyncpg://ignored@elsewhere/db")
    monkeypatch.setenv("STEWARD_DATABASE_URL_FILE", str(secret))
    settings = ServiceSettings()
    assert settings.database_url == "postgresql+asyncpg://steward_issues:s3cret@pg-rw:5432/steward_issues"
    assert settings.database_url_file == secret

    monkeypatch.delenv("STEWARD_DATABASE_URL_FILE")
    assert ServiceSettings().database_url == "postgresql+asyncpg://ignored@elsewhere/db"


@pytest.mark.parametrize("content", [None, "  \n"])
def test_a_missing_or_empty_database_url_file_is_refused(tmp_path: Path, content: str | None) -> None:
    secret = tmp_path / "url"
    if content is not None:
        secret.write_text(content, encoding="utf-8")
    with pytest.raises((ValidationError, OSError)):
        ServiceSettings(database_url_file=secret)


async def test_managed_streams_are_looked_up_never_created_or_changed(nats_url: str, js: Any) -> None:
    suffix = uuid.uuid4().hex[:8]
    settings = ServiceSettings(
        nats_url=nats_url,
        events_stream=f"KIT_MANAGED_{suffix}",
        events_subject_prefix=f"kitm{suffix}.events",
        events_streams_managed=True,
    )
    bus = EventBus(settings)
    try:
        with pytest.raises(RuntimeError, match="not provisioned"):
            await bus.connect()
    finally:
        await bus.stop()
    with pytest.raises(NotFoundError):
        await js.stream_info(settings.events_stream)

    # provisioned by someone else (here: by hand, with a shorter retention than the settings say)
    events, dlq = bus.stream_configs()
    events.max_age = 86400.0
    await js.add_stream(events)
    try:
        await js.stream_info(DLQ_STREAM)
    except NotFoundError:
        await js.add_stream(dlq)
    bus = EventBus(settings)
    try:
        await bus.connect()
        assert (await js.stream_info(settings.events_stream)).config.max_age == pytest.approx(86400.0)
    finally:
        await bus.stop()
        await js.delete_stream(settings.events_stream)
