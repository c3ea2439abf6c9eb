"""The catalogue of every Steward event type, and the documents published for agencies.

* :data:`ALL_EVENTS` — every event body model, collected from the ``*_EVENTS`` tuples of the modules
  listed in :data:`EVENT_MODULES`. A service that adds ``steward/events/<service>.py`` with a
  ``<SERVICE>_EVENTS`` tuple registers it by adding its module name to :data:`EVENT_MODULES`.
* :func:`asyncapi_document` — an AsyncAPI 3.0 document: one channel per event type
  (``steward.events.{tenant}.<aggregate>.<event>``), messages whose payload is the CloudEvents
  envelope with ``data`` = the event body, ``receive`` operations for subscribers.
* :func:`event_json_schemas` — one standalone JSON Schema (draft 2020-12) per event body, keyed by
  CloudEvents ``type``.

Everything here is pure and deterministic: ``scripts/export_docs.py`` writes the results to
``docs/api/`` and CI checks them for drift.
"""

from __future__ import annotations

import copy
import importlib
from importlib import metadata
from typing import Any

from pydantic.json_schema import models_json_schema

from steward.events.envelope import SUBJECT_PREFIX, CloudEvent, EventData, schema_urn

__all__ = [
    "ALL_EVENTS",
    "ASYNCAPI_VERSION",
    "CONTENT_TYPE",
    "DLQ_PREFIX",
    "DLQ_STREAM",
    "EVENTS_STREAM",
    "EVENT_MODULES",
    "JSON_SCHEMA_DIALECT",
    "asyncapi_document",
    "channel_id",
    "collect_events",
    "event_json_schemas",
    "events_by_type",
]

# Modules of ``steward.events`` that define a ``*_EVENTS`` tuple. One line per service.
EVENT_MODULES: tuple[str, ...] = (
    "steward.events.registry",
    "steward.events.issues",
    "steward.events.notify",
    "steward.events.scoring",
    "steward.events.meetings",
)

ASYNCAPI_VERSION = "3.0.0"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
CONTENT_TYPE = "application/cloudevents+json"
EVENTS_STREAM = "STEWARD_EVENTS"
DLQ_STREAM = "STEWARD_DLQ"
DLQ_PREFIX = "steward.dlq"
NATS_BINDING_VERSION = "0.1.0"
_ENVELOPE = "CloudEvent"
_HEADERS = "NatsHeaders"


def collect_events(modules: tuple[str, ...] = EVENT_MODULES) -> tuple[type[EventData], ...]:
    """Every ``EventData`` subclass listed in a ``*_EVENTS`` tuple of ``modules``, in order.

    Raises ``ValueError`` when two models share a CloudEvents ``type`` or a subject
    (``<aggregate>.<event>``): both must identify one event type across all services.
    """
    found: list[type[EventData]] = []
    for name in modules:
        module = importlib.import_module(name)
        for attr in sorted(vars(module)):
            if not attr.endswith("_EVENTS"):
                continue
            for model in getattr(module, attr):
                if not (isinstance(model, type) and issubclass(model, EventData)):
                    raise TypeError(f"{name}.{attr} holds {model!r}, which is not an EventData subclass")
                if model not in found:
                    found.append(model)
    for key in (lambda m: m.ce_type(), lambda m: m.short_type()):
        seen: dict[str, type[EventData]] = {}
        for model in found:
            k = key(model)
            if k in seen:
                raise ValueError(
                    f"event type {k!r} is defined twice: {seen[k].__name__} and {model.__name__}"
                )
            seen[k] = model
    return tuple(found)


ALL_EVENTS: tuple[type[EventData], ...] = collect_events()


def events_by_type(events: tuple[type[EventData], ...] = ALL_EVENTS) -> dict[str, type[EventData]]:
    """``{"steward.project.registered.v1": ProjectRegistered, ...}``."""
    return {model.ce_type(): model for model in events}


def channel_id(model: type[EventData]) -> str:
    """The AsyncAPI channel / message / operation key: the short type, ``project.registered``."""
    return model.short_type()


def _body_description(model: type[EventData]) -> str:
    return model.summary or (model.__doc__ or "").strip()


def tolerant(schema: Any) -> Any:
    """``schema`` without ``additionalProperties: false`` anywhere: within a version fields may be
    added (docs/events.md), so a consumer validating with the published schema must accept them."""
    if isinstance(schema, dict):
        return {k: tolerant(v) for k, v in schema.items() if not (k == "additionalProperties" and v is False)}
    if isinstance(schema, list):
        return [tolerant(v) for v in schema]
    return schema


def event_json_schemas(events: tuple[type[EventData], ...] = ALL_EVENTS) -> dict[str, dict[str, Any]]:
    """A standalone JSON Schema (draft 2020-12) of each event body (the CloudEvent's ``data``),
    keyed by CloudEvents ``type``."""
    out: dict[str, dict[str, Any]] = {}
    for model in events:
        schema = tolerant(model.model_json_schema(mode="serialization"))
        body: dict[str, Any] = {
            "$schema": JSON_SCHEMA_DIALECT,
            "$id": schema_urn(model.ce_type()),
            **schema,
            "title": model.__name__,
            "description": _body_description(model),
            "x-steward-type": model.ce_type(),
            "x-steward-subject": model.subject_for("{tenant}"),
        }
        out[model.ce_type()] = body
    return out


def _components_schemas(events: tuple[type[EventData], ...]) -> dict[str, dict[str, Any]]:
    """Every model's schema (and nested models), hoisted under ``components.schemas``."""
    _, top = models_json_schema(
        [(CloudEvent, "serialization"), *((m, "serialization") for m in events)],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, dict[str, Any]] = tolerant(copy.deepcopy(top.get("$defs", {})))
    for model in events:
        schemas[model.__name__]["description"] = _body_description(model)
    schemas[_HEADERS] = {
        "type": "object",
        "title": "NATS headers",
        "properties": {
            "Nats-Msg-Id": {
                "type": "string",
                "description": "Equals the event id; JetStream drops re-publishes within its duplicate window.",
            },
            "content-type": {"type": "string", "const": CONTENT_TYPE},
            "traceparent": {"type": "string", "description": "W3C trace context of the causing request"},
        },
        "required": ["Nats-Msg-Id"],
    }
    return schemas


def _payload(model: type[EventData]) -> dict[str, Any]:
    """The envelope with ``type`` fixed and ``data`` narrowed to this event's body."""
    return {
        "allOf": [
            {"$ref": f"#/components/schemas/{_ENVELOPE}"},
            {
                "type": "object",
                "properties": {
                    "type": {"type": "string", "const": model.ce_type()},
                    "dataschema": {"type": "string", "const": model.dataschema()},
                    "data": {"$ref": f"#/components/schemas/{model.__name__}"},
                },
                "required": ["type", "data"],
            },
        ]
    }


def _contracts_version() -> str:
    try:
        return metadata.version("steward-contracts")
    except metadata.PackageNotFoundError:  # pragma: no cover - source checkout without install
        return "0.0.0"


def asyncapi_document(events: tuple[type[EventData], ...] = ALL_EVENTS) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every event type Steward publishes."""
    schemas = _components_schemas(events)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    tags: dict[str, dict[str, str]] = {}
    for model in events:
        key = channel_id(model)
        tags.setdefault(model.aggregate, {"name": model.aggregate})
        tag = [{"name": model.aggregate}]
        summary = model.summary or model.__name__
        messages[key] = {
            "name": model.ce_type(),
            "title": model.__name__,
            "summary": summary,
            "contentType": CONTENT_TYPE,
            "headers": {"$ref": f"#/components/schemas/{_HEADERS}"},
            "payload": _payload(model),
            "tags": tag,
            "x-steward-type": model.ce_type(),
        }
        channels[key] = {
            "address": model.subject_for("{tenant}", SUBJECT_PREFIX),
            "title": model.__name__,
            "description": summary,
            "servers": [{"$ref": "#/servers/nats"}],
            "parameters": {"tenant": {"$ref": "#/components/parameters/tenant"}},
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
            "tags": tag,
        }
        operations[f"receive.{key}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{key}"},
            "messages": [{"$ref": f"#/channels/{key}/messages/{key}"}],
            "title": f"Receive {model.short_type()}",
            "summary": summary,
            "description": (
                f"Agencies subscribe with a durable pull consumer on stream `{EVENTS_STREAM}` "
                f"filtered on `{model.subject_for('<tenant>', SUBJECT_PREFIX)}` (one district) or "
                f"`{SUBJECT_PREFIX}.*.{model.aggregate}.{model.event}` (every tenant)."
            ),
            "tags": tag,
            "bindings": {"nats": {"bindingVersion": NATS_BINDING_VERSION}},
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:steward:events",
        "info": {
            "title": "Steward events",
            "version": _contracts_version(),
            "description": (
                "Domain events of Steward (项目管家), published to NATS JetStream as CloudEvents 1.0 "
                "structured-mode JSON. Subjects: `steward.events.<tenant>.<aggregate>.<event>`; every "
                f"event is stored in stream `{EVENTS_STREAM}` (subjects `{SUBJECT_PREFIX}.>`). "
                "Delivery is at least once: deduplicate on the CloudEvents `id`. See docs/events.md."
            ),
            "tags": [tags[name] for name in sorted(tags)],
            "x-steward-jetstream": {
                "stream": EVENTS_STREAM,
                "subjects": [f"{SUBJECT_PREFIX}.>"],
                "dead_letter_stream": DLQ_STREAM,
                "dead_letter_subject": f"{DLQ_PREFIX}.{{consumer}}",
            },
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "nats": {
                "host": "{host}:{port}",
                "protocol": "nats",
                "title": "Steward NATS (JetStream)",
                "description": "The NATS cluster carrying Steward's event stream.",
                "variables": {
                    "host": {"default": "127.0.0.1", "description": "NATS host name"},
                    "port": {"default": "4222", "description": "NATS client port"},
                },
                "security": [
                    {"$ref": "#/components/securitySchemes/natsCredentials"},
                    {"$ref": "#/components/securitySchemes/natsUserPassword"},
                ],
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": schemas,
            "messages": messages,
            "securitySchemes": {
                "natsCredentials": {
                    "type": "asymmetricEncryption",
                    "description": (
                        "NATS decentralized authentication: a `.creds` file holding the user JWT "
                        "(signed by the account, its permissions limiting the subjects it may "
                        "subscribe to) and the user's NKey seed, which signs the server's nonce."
                    ),
                },
                "natsUserPassword": {
                    "type": "userPassword",
                    "description": "NATS user and password (a dev or small deployment's server config).",
                },
            },
            "parameters": {
                "tenant": {
                    "description": (
                        "Administrative division code of the tenant the event belongs to (6, 9 or 12 "
                        "digits). Events of a district's streets and zones carry their own code."
                    ),
                    "examples": ["210112", "210112004"],
                }
            },
        },
    }
