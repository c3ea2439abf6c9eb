"""The tenant rules document: root model, defaults, inheritance (merge), validation without raising,
diff for dry-runs and JSON Schema export.

Inheritance: a tenant stores only its own *override* — a partial document (plain mapping as read
from YAML/JSON). The *effective* document of a tenant is its parent's effective document with the
override merged in (:func:`merge_rules`), starting from :func:`default_rules` at the root.

Merge semantics (also used by :func:`effective_rules`):

* mappings (sections and nested models) merge **recursively**, key by key;
* lists **replace wholesale** (``roster.roles``, ``reports.schedules``, ``notify.routes`` …): to add
  one role a tenant lists the whole roster — what you see in the override is the whole list;
* scalars replace; an explicit ``null`` sets the value to null (e.g. ``steward_required_min: null``
  switches the parent's steward rule off) and is rejected where null is not allowed;
* the result is validated as a whole (``extra="forbid"``: unknown keys are errors with their path).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from steward.rules.base import StrictModel
from steward.rules.calendar import CalendarSection
from steward.rules.matters import MattersSection
from steward.rules.meetings import MeetingsSection
from steward.rules.node_plans import NodePlansSection
from steward.rules.notify import NotifySection
from steward.rules.reports import ReportsSection
from steward.rules.roster import RosterSection
from steward.rules.scoring import RankingDef, ScorecardsSection
from steward.rules.scoring_presets import CITY_MONTHLY_DISTRICT_RANKING
from steward.rules.service_log import ServiceLogSection
from steward.rules.thresholds import ThresholdsSection

__all__ = [
    "SECTIONS",
    "Change",
    "ErrorItem",
    "RulesDocument",
    "deep_merge",
    "default_rules",
    "diff_rules",
    "effective_rules",
    "errors_from_validation",
    "merge_rules",
    "override_json_schema",
    "rules_fingerprint",
    "rules_json_schema",
    "validate_override",
]


def _default_scorecards() -> ScorecardsSection:
    return ScorecardsSection(rankings=[RankingDef.model_validate(CITY_MONTHLY_DISTRICT_RANKING)])


class RulesDocument(StrictModel):
    """A tenant's effective rules. Every section has a default, so ``RulesDocument()`` is the
    platform default (Shenyang-style city rules) and a partial input is filled from defaults."""

    schema_version: Literal[1] = 1
    thresholds: ThresholdsSection = Field(default_factory=ThresholdsSection)
    roster: RosterSection = Field(default_factory=RosterSection)
    reports: ReportsSection = Field(default_factory=ReportsSection)
    matters: MattersSection = Field(default_factory=MattersSection)
    meetings: MeetingsSection = Field(default_factory=MeetingsSection)
    scorecards: ScorecardsSection = Field(default_factory=_default_scorecards)
    notify: NotifySection = Field(default_factory=NotifySection)
    calendar: CalendarSection = Field(default_factory=CalendarSection)
    service_log: ServiceLogSection = Field(default_factory=ServiceLogSection)
    node_plans: NodePlansSection = Field(default_factory=NodePlansSection)

    @model_validator(mode="after")
    def _cross_references(self) -> RulesDocument:
        roles = {r.key for r in self.roster.roles}
        for i, schedule in enumerate(self.reports.schedules):
            if schedule.paper_signoff_role is not None and schedule.paper_signoff_role not in roles:
                raise ValueError(
                    f"reports.schedules[{i}].paper_signoff_role {schedule.paper_signoff_role!r} "
                    f"is not a roster role (roster.roles: {sorted(roles)})"
                )
        for i, rule in enumerate(self.service_log.rules):
            if rule.role not in roles:
                raise ValueError(
                    f"service_log.rules[{i}].role {rule.role!r} is not a roster role "
                    f"(roster.roles: {sorted(roles)})"
                )
        return self


SECTIONS: tuple[str, ...] = tuple(name for name in RulesDocument.model_fields if name != "schema_version")


def default_rules() -> RulesDocument:
    """The platform default: Shenyang-style city rules (沈政发〔2018〕7号) with the default taxonomy,
    procedure catalogue, weekly meeting and notification routes."""
    return RulesDocument()


# --- merge --------------------------------------------------------------------------------------------
def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Mappings merge recursively; lists and scalars in ``override`` replace. Inputs are not mutated."""
    result: dict[str, Any] = copy.deepcopy(dict(base))
    for key, value in override.items():
        current = result.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            result[key] = deep_merge(current, value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def merge_rules(parent_effective: RulesDocument, override: Mapping[str, Any]) -> RulesDocument:
    """Effective rules of a tenant = parent's effective rules ⊕ the tenant's override.

    Raises ``pydantic.ValidationError`` when the result is invalid; use :func:`validate_override` for
    a non-raising check with machine-readable errors.
    """
    if not isinstance(override, Mapping):
        raise TypeError("a rules override must be a mapping (YAML/JSON object)")
    merged = deep_merge(parent_effective.model_dump(mode="json"), override)
    return RulesDocument.model_validate(merged)


def effective_rules(
    overrides: Iterable[Mapping[str, Any]], *, base: RulesDocument | None = None
) -> RulesDocument:
    """Fold a chain of overrides, root first (city, district, zone …), onto ``base`` (default rules)."""
    doc = base if base is not None else default_rules()
    for override in overrides:
        doc = merge_rules(doc, override)
    return doc


# --- validation without raising ---------------------------------------------------------------------
class ErrorItem(BaseModel):
    """One machine-readable problem, for 4xx bodies and dry-runs."""

    loc: list[str | int]
    path: str
    message: str
    type: str


def _path(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def errors_from_validation(exc: ValidationError) -> list[ErrorItem]:
    items: list[ErrorItem] = []
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"] if isinstance(p, (str, int))]
        message = err["msg"].removeprefix("Value error, ")
        items.append(ErrorItem(loc=loc, path=_path(loc), message=message, type=err["type"]))
    return items


def validate_override(override: Any, parent: RulesDocument | None = None) -> list[ErrorItem]:
    """Check a tenant override against its parent's effective rules (default rules if none).
    Returns an empty list when valid; never raises for bad input."""
    if not isinstance(override, Mapping):
        return [
            ErrorItem(
                loc=[],
                path="",
                message="a rules override must be a mapping (YAML/JSON object)",
                type="dict_type",
            )
        ]
    bad_keys = [k for k in override if not isinstance(k, str)]
    if bad_keys:
        return [ErrorItem(loc=[], path="", message=f"keys must be strings: {bad_keys!r}", type="key_type")]
    try:
        merge_rules(parent if parent is not None else default_rules(), override)
    except ValidationError as exc:
        return errors_from_validation(exc)
    return []


# --- diff -------------------------------------------------------------------------------------------
class Change(BaseModel):
    """One changed leaf between two documents (JSON values)."""

    path: str
    loc: list[str | int]
    op: Literal["added", "removed", "changed"]
    old: Any = None
    new: Any = None


def _walk(old: Any, new: Any, loc: list[str | int], out: list[Change]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            here = [*loc, key]
            if key not in new:
                out.append(Change(path=_path(here), loc=here, op="removed", old=old[key]))
            elif key not in old:
                out.append(Change(path=_path(here), loc=here, op="added", new=new[key]))
            else:
                _walk(old[key], new[key], here, out)
    elif isinstance(old, list) and isinstance(new, list):
        ident = _identity_field(old, new)
        if ident is not None:
            old_by = {item[ident]: (i, item) for i, item in enumerate(old)}
            new_by = {item[ident]: (i, item) for i, item in enumerate(new)}
            for name, (i, item) in old_by.items():
                if name not in new_by:
                    out.append(Change(path=_path([*loc, i]), loc=[*loc, i], op="removed", old=item))
            for name, (i, item) in new_by.items():
                if name in old_by:
                    _walk(old_by[name][1], item, [*loc, i], out)
                else:
                    out.append(Change(path=_path([*loc, i]), loc=[*loc, i], op="added", new=item))
            return
        for i in range(max(len(old), len(new))):
            here = [*loc, i]
            if i >= len(new):
                out.append(Change(path=_path(here), loc=here, op="removed", old=old[i]))
            elif i >= len(old):
                out.append(Change(path=_path(here), loc=here, op="added", new=new[i]))
            else:
                _walk(old[i], new[i], here, out)
    elif old != new or type(old) is not type(new):
        out.append(Change(path=_path(loc), loc=list(loc), op="changed", old=old, new=new))


def _identity_field(old: list[Any], new: list[Any]) -> str | None:
    """``key`` or ``code`` when every item of both lists is a mapping with a unique value for it."""
    items = old + new
    if not items or not all(isinstance(item, dict) for item in items):
        return None
    for field in ("key", "code"):
        if all(field in item for item in items):
            olds = [item[field] for item in old]
            news = [item[field] for item in new]
            if len(set(olds)) == len(olds) and len(set(news)) == len(news):
                return field
    return None


def diff_rules(old: RulesDocument, new: RulesDocument) -> list[Change]:
    """Changed leaves from ``old`` to ``new``. Lists of items with a unique ``key``/``code`` (roles,
    schedules, categories, procedures, scorecards …) are matched by that identity, so a replaced item
    shows as one removal (old index) and one addition (new index) and a kept item as its changed
    leaves (new index); other lists compare by position."""
    out: list[Change] = []
    _walk(old.model_dump(mode="json"), new.model_dump(mode="json"), [], out)
    return out


# --- schema and fingerprint -------------------------------------------------------------------------
def rules_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of an effective rules document, as accepted on input."""
    return RulesDocument.model_json_schema(mode="validation")


def _strip_required(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: _strip_required(v) for k, v in node.items() if not (k == "required" and isinstance(v, list))
        }
    if isinstance(node, list):
        return [_strip_required(v) for v in node]
    return node


def override_json_schema() -> dict[str, Any]:
    """Schema for a tenant override (every property optional). Lists inside still need complete
    items, since lists replace wholesale; cross-field checks happen only after merging."""
    schema = _strip_required(rules_json_schema())
    schema["title"] = "RulesOverride"
    return schema


def rules_fingerprint(doc: RulesDocument) -> str:
    """Stable sha256 of the canonical JSON form, for cache keys and ``rules.updated`` events."""
    text = json.dumps(doc.model_dump(mode="json"), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
