"""CloudEvents ``dataschema``: every event the outbox builds names the published JSON Schema of its
type and version (``urn:steward:events:<type>``, the ``$id`` of docs/api/events/<type>.schema.json),
and that schema validates the event's ``data`` — with an added field too (tolerant within a version)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from steward.events.catalog import ALL_EVENTS
from steward.events.envelope import CloudEvent
from steward.events.registry import TenantCreated
from steward.kit.outbox import build_event

DOCS = Path(__file__).resolve().parents[3] / "docs" / "api" / "events"


def _published(ce_type: str) -> dict[str, object]:
    return json.loads((DOCS / f"{ce_type}.schema.json").read_text(encoding="utf-8"))


def test_built_events_carry_the_dataschema_of_their_type() -> None:
    data = TenantCreated(code="210112", name="浑南区", kind="district", parent="210100")
    event = build_event(data, tenant="210112", source="/steward/registry")
    wire = event.model_dump(mode="json", exclude_none=True)
    assert wire["dataschema"] == "urn:steward:events:steward.tenant.created.v1"
    schema = _published(wire["type"])
    assert schema["$id"] == wire["dataschema"]
    jsonschema.Draft202012Validator(schema).validate(wire["data"])
    jsonschema.Draft202012Validator(schema).validate({**wire["data"], "added_later": "x"})
    assert CloudEvent.model_validate_json(json.dumps(wire)).dataschema == wire["dataschema"]


def test_a_producer_set_dataschema_and_foreign_types_are_kept() -> None:
    base = {"id": "1", "source": "/x", "time": "2025-03-01T00:00:00Z", "tenant": "210112", "data": {}}
    assert CloudEvent.model_validate({**base, "type": "org.example.thing.v1"}).dataschema is None
    own = CloudEvent.model_validate(
        {**base, "type": "steward.tenant.created.v1", "dataschema": "https://x/s"}
    )
    assert own.dataschema == "https://x/s"


@pytest.mark.parametrize("model", ALL_EVENTS, ids=lambda m: m.ce_type())
def test_every_type_has_its_schema_file_at_its_dataschema(model: type) -> None:
    assert _published(model.ce_type())["$id"] == model.dataschema()


def test_asyncapi_has_nats_bindings_and_server_security() -> None:
    from steward.events.catalog import asyncapi_document

    doc = asyncapi_document()
    schemes = doc["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"asymmetricEncryption", "userPassword"}
    refs = [r["$ref"] for r in doc["servers"]["nats"]["security"]]
    assert refs and all(r.removeprefix("#/components/securitySchemes/") in schemes for r in refs)
    for key, operation in doc["operations"].items():
        assert operation["bindings"]["nats"] == {"bindingVersion": "0.1.0"}, key
    # the published document is this one (make docs)
    published = json.loads((DOCS.parent / "asyncapi.json").read_text(encoding="utf-8"))
    assert published["components"]["securitySchemes"] == schemes
