"""The event catalogue: AsyncAPI document, per-event JSON Schemas, and the list of event types."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from datetime import UTC, datetime
from typing import Any

import pytest

import steward.events
from steward.events.catalog import (
    ALL_EVENTS,
    EVENT_MODULES,
    asyncapi_document,
    channel_id,
    collect_events,
    event_json_schemas,
)
from steward.events.envelope import CloudEvent, EventData
from steward.events.registry import REGISTRY_EVENTS

try:
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012
except ImportError:  # pragma: no cover - structure checks still run
    jsonschema = None  # type: ignore[assignment]

DOC = asyncapi_document()
SCHEMAS = event_json_schemas()


def resolve(doc: dict[str, Any], node: Any) -> Any:
    """Follow local ``$ref``s (``#/a/b``) until a non-reference node."""
    seen = 0
    while isinstance(node, dict) and set(node) == {"$ref"}:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"non-local reference {ref}"
        node = doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            assert isinstance(node, dict) and part in node, f"unresolvable reference {ref}"
            node = node[part]
        seen += 1
        assert seen < 20, "reference loop"
    return node


def all_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in all_refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in all_refs(v)]
    return []


# --- the catalogue ------------------------------------------------------------------------------------
def test_all_events_contains_every_events_tuple_of_the_package() -> None:
    """A new ``steward/events/<service>.py`` with a ``*_EVENTS`` tuple must be listed in EVENT_MODULES."""
    declared: list[type[EventData]] = []
    for info in pkgutil.iter_modules(steward.events.__path__, "steward.events."):
        module = importlib.import_module(info.name)
        for attr, value in vars(module).items():
            if attr.endswith("_EVENTS") and attr != "ALL_EVENTS" and isinstance(value, tuple):
                assert info.name in EVENT_MODULES, f"{info.name}.{attr} is not listed in EVENT_MODULES"
                declared += value
    assert set(declared) == set(ALL_EVENTS)
    assert set(REGISTRY_EVENTS) <= set(ALL_EVENTS)


def test_ce_types_and_subjects_are_unique() -> None:
    types = [m.ce_type() for m in ALL_EVENTS]
    assert len(types) == len(set(types))
    shorts = [m.short_type() for m in ALL_EVENTS]
    assert len(shorts) == len(set(shorts))
    for model in ALL_EVENTS:
        assert re.fullmatch(r"steward\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.v[1-9][0-9]*", model.ce_type())
        assert model.summary, f"{model.__name__} has no summary"


def test_collect_events_rejects_duplicate_types(monkeypatch: pytest.MonkeyPatch) -> None:
    import steward.events.registry as registry

    class Clash(EventData):
        aggregate = "project"
        event = "registered"

    monkeypatch.setattr(registry, "CLASH_EVENTS", (Clash,), raising=False)
    with pytest.raises(ValueError, match="defined twice"):
        collect_events(("steward.events.registry",))


# --- AsyncAPI -----------------------------------------------------------------------------------------
def test_asyncapi_top_level_structure() -> None:
    assert DOC["asyncapi"] == "3.0.0"
    for key in ("info", "servers", "channels", "operations", "components"):
        assert key in DOC
    assert DOC["info"]["title"] and DOC["info"]["version"]
    server = DOC["servers"]["nats"]
    assert server["protocol"] == "nats"
    variables = set(re.findall(r"{(\w+)}", server["host"]))
    assert variables and variables <= set(server["variables"])
    assert all("default" in v for v in server["variables"].values())
    assert "tenant" in DOC["components"]["parameters"]
    json.dumps(DOC, sort_keys=True, ensure_ascii=False)  # serialisable as is


def test_every_reference_resolves() -> None:
    refs = all_refs(DOC)
    assert refs
    for ref in refs:
        resolve(DOC, {"$ref": ref})


def test_components_are_asyncapi_schema_compatible() -> None:
    """Shared schemas are hoisted under components (no ``$defs`` left) and no draft 2020-12-only
    keywords remain, so AsyncAPI tools (JSON Schema draft-07 superset) read the payloads."""
    text = json.dumps(DOC)
    for keyword in ("$defs", "prefixItems", "unevaluatedProperties", "dependentRequired", "$dynamicRef"):
        assert f'"{keyword}"' not in text, keyword
    assert all(r.startswith("#/") for r in all_refs(DOC))
    pattern = re.compile(r"^[\w.\-]+$")
    for section, entries in DOC["components"].items():
        for key in entries:
            assert pattern.match(key), f"components.{section} key {key!r}"


def test_every_channel_has_messages_with_payloads() -> None:
    assert DOC["channels"]
    for key, channel in DOC["channels"].items():
        params = set(re.findall(r"{(\w+)}", channel["address"]))
        assert params == set(channel.get("parameters", {})) == {"tenant"}, key
        assert channel["messages"], key
        for message_ref in channel["messages"].values():
            message = resolve(DOC, message_ref)
            payload = resolve(DOC, message["payload"])
            assert isinstance(payload, dict) and payload, key
            assert message["contentType"] == "application/cloudevents+json"
            assert message.get("summary") or message.get("description")


def test_every_registry_event_has_a_channel_at_its_subject() -> None:
    for model in REGISTRY_EVENTS:
        channel = DOC["channels"][channel_id(model)]
        assert channel["address"] == model.subject_for("{tenant}")
        assert channel["description"] == model.summary
        message = resolve(DOC, next(iter(channel["messages"].values())))
        assert message["name"] == model.ce_type()
        assert message["summary"] == model.summary
        # payload = the envelope with ``type`` fixed and ``data`` = the event body schema
        envelope, narrowed = message["payload"]["allOf"]
        assert resolve(DOC, envelope)["title"] == "CloudEvent"
        assert narrowed["properties"]["type"]["const"] == model.ce_type()
        body = resolve(DOC, narrowed["properties"]["data"])
        assert set(body["properties"]) == set(model.model_fields)
        assert body["description"] == model.summary
    assert len(DOC["channels"]) == len(ALL_EVENTS)


def test_operations_receive_every_channel() -> None:
    received = set()
    for key, op in DOC["operations"].items():
        assert op["action"] == "receive", key
        channel = resolve(DOC, op["channel"])
        channel_key = op["channel"]["$ref"].rsplit("/", 1)[-1]
        assert op["messages"], key
        for ref in op["messages"]:
            # AsyncAPI 3: an operation's messages must be messages of its channel
            assert ref["$ref"].startswith(f"#/channels/{channel_key}/messages/"), key
            resolve(DOC, ref)
        assert channel["address"].startswith("steward.events.{tenant}.")
        received.add(channel_key)
    assert received == set(DOC["channels"])


def test_document_is_deterministic() -> None:
    again = asyncapi_document()
    assert json.dumps(again, sort_keys=True) == json.dumps(DOC, sort_keys=True)
    assert json.dumps(event_json_schemas(), sort_keys=True) == json.dumps(SCHEMAS, sort_keys=True)


# --- JSON Schemas and round trips ---------------------------------------------------------------------
def sample(schema: dict[str, Any], root: dict[str, Any], name: str = "x") -> Any:
    """A value valid under ``schema``: every property present, non-null alternatives preferred."""
    schema = resolve(root, schema)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema or "oneOf" in schema:
        options = schema.get("anyOf") or schema["oneOf"]
        non_null = [o for o in options if o.get("type") != "null"]
        return sample((non_null or options)[0], root, name)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        out = {k: sample(v, root, k) for k, v in schema.get("properties", {}).items()}
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and not out:
            out = {"stage": sample(extra, root, "stage")}
        return out
    if kind == "array":
        return [sample(schema.get("items", {"type": "string"}), root, name)]
    if kind == "string":
        if schema.get("format") == "date-time":
            return "2025-03-01T08:30:00Z"
        if schema.get("format") == "date":
            return "2025-03-01"
        return f"{name}-1"
    if kind == "integer":
        return max(int(schema.get("minimum", 3)), 3)
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    return f"{name}-1"


def test_event_json_schemas_keyed_by_ce_type() -> None:
    assert set(SCHEMAS) == {m.ce_type() for m in ALL_EVENTS}
    for ce_type, schema in SCHEMAS.items():
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["x-steward-type"] == ce_type
        assert schema["type"] == "object"
        assert schema["$id"] == f"urn:steward:events:{ce_type}"
        # tolerant: fields may be added within a version (docs/events.md), nowhere `false`
        assert '"additionalProperties": false' not in json.dumps(schema)


@pytest.mark.parametrize("model", ALL_EVENTS, ids=lambda m: m.ce_type())
def test_every_event_round_trips_a_sample_through_its_schema(model: type[EventData]) -> None:
    schema = SCHEMAS[model.ce_type()]
    value = sample(schema, schema)
    assert set(value) == set(model.model_fields)
    if jsonschema is not None:
        jsonschema.Draft202012Validator.check_schema(schema)
        jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(value)
    instance = model.model_validate(value)
    dumped = instance.model_dump(mode="json")
    if jsonschema is not None:
        jsonschema.Draft202012Validator(schema).validate(dumped)
        jsonschema.Draft202012Validator(schema).validate({**dumped, "added_in_v1": 1})  # tolerated
        with pytest.raises(jsonschema.ValidationError):
            required = schema.get("required") or list(dumped)
            jsonschema.Draft202012Validator(schema).validate({**dumped, required[0]: [[]]})  # still typed
    assert model.model_validate(dumped) == instance

    # … and wrapped in the envelope, against the AsyncAPI message payload
    event = CloudEvent(
        id="01951a2b-3c4d-7e5f-8a9b-0c1d2e3f4a5b",
        source="/steward/test",
        type=model.ce_type(),
        time=datetime(2025, 3, 1, 8, 30, tzinfo=UTC),
        subject="s-1",
        tenant="210112",
        data=dumped,
    )
    wire = event.model_dump(mode="json", exclude_none=True)
    message = DOC["components"]["messages"][channel_id(model)]
    if jsonschema is not None:
        uri = "urn:steward:asyncapi"
        registry = Registry().with_resource(
            uri, Resource.from_contents(DOC, default_specification=DRAFT202012)
        )
        ref = f"{uri}#/components/messages/{channel_id(model)}/payload"
        validator = jsonschema.Draft202012Validator({"$ref": ref}, registry=registry)
        validator.validate(wire)
        assert not validator.is_valid({**wire, "type": "steward.other.thing.v1"})
        assert validator.is_valid({**wire, "data": {**dumped, "added_in_v1": 1}})  # tolerated
        assert wire["dataschema"] == model.dataschema() == SCHEMAS[model.ce_type()]["$id"]
        assert not validator.is_valid({**wire, "dataschema": "urn:steward:events:other"})
        assert not validator.is_valid({k: v for k, v in wire.items() if k != "tenant"})
    else:  # structure only
        assert set(resolve(DOC, message["payload"]["allOf"][0])["required"]) <= set(wire)
    assert CloudEvent.model_validate(wire).data == dumped
