"""Route recipient names → people, from the project's roster (registry ``GetRoster``) and the event.

Mapping (documented in docs/notify.md):

* a name that is a roster role key (``steward``, ``agent``, ``leader``, ``lead_unit``,
  ``specialist``, ``enterprise_contact``, ``commander`` …) → the people holding that role on the
  event's project; a role held by a *unit* (``lead_unit``, ``responsible_unit``) → the roster's
  people who belong to that unit;
* ``assignee`` → the matter's responsible person (``responsible_person_id`` / ``assignee_person_id``
  / ``person_id`` of the event) when on the roster, plus the agents (roster role ``agent``, else any
  roster person) of the responsible unit (``responsible_unit_id`` / ``assignee_unit_id``);
* ``reporter`` → ``reporter_subject`` / ``reporter`` / ``filed_by`` of the event, else the event's
  actor (in-app inbox only unless the reporter is on the roster);
* any other name ``X`` → also the event's ``X_person_id(s)`` (looked up on the roster) and
  ``X_subject(s)`` (in-app inbox) — so a new producer adds recipients with data, not code.

The registry has no "people with system role R in tenant T" API; names such as ``supervisor`` or
``tenant_admin`` resolve only through the roster or the event's ``X_subject(s)``; unresolved names
are counted (metric ``steward_notify_unresolved_recipients_total``) and logged, never an error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from steward.api.registry.v1 import registry_pb2 as pb

UNIT_ROLES = ("lead_unit", "responsible_unit", "service_team", "hq")
AGENT_ROLES = ("agent",)
_ASSIGNEE_PERSON = (
    "responsible_person_id",
    "responsible_person",
    "assignee_person_id",
    "assignee_id",
    "person_id",
)
_ASSIGNEE_UNIT = ("responsible_unit_id", "assignee_unit_id", "unit_id")
_REPORTER = ("reporter_subject", "reporter", "filed_by", "reported_by")


@dataclass
class Contact:
    key: str  # person:<id> | subject:<sub>
    name: str = ""
    subject: str | None = None
    person_id: str | None = None
    unit_id: str | None = None
    roles: set[str] = field(default_factory=set)
    routes: dict[str, str] = field(default_factory=dict)


def _contact(entry: pb.RosterEntry) -> Contact | None:
    person = entry.person
    if not person.id and not person.subject:
        return None
    key = f"person:{person.id}" if person.id else f"subject:{person.subject}"
    return Contact(
        key=key,
        name=person.name,
        subject=person.subject or None,
        person_id=person.id or None,
        unit_id=person.unit_id or None,
        roles={entry.role_key},
        routes={r.channel: r.address for r in person.routes if r.address},
    )


def _values(data: dict[str, Any], *names: str) -> list[str]:
    out: list[str] = []
    for name in names:
        value = data.get(name)
        if isinstance(value, str) and value:
            out.append(value)
        elif isinstance(value, list):
            out.extend(str(v) for v in value if isinstance(v, str | int) and str(v))
        elif isinstance(value, dict):  # e.g. {"id": ..., "subject": ...}
            for k in ("subject", "id"):
                if isinstance(value.get(k), str) and value[k]:
                    out.append(value[k])
                    break
    return out


class Resolver:
    def __init__(self, roster: pb.Roster | None, data: dict[str, Any], actor: str | None) -> None:
        self.entries = list(roster.entries) if roster is not None else []
        self.data = data
        self.actor = actor
        self.by_person = {e.person.id: e for e in self.entries if e.person.id}
        self.by_subject = {e.person.subject: e for e in self.entries if e.person.subject}

    def _role(self, role: str) -> list[Contact]:
        out: list[Contact] = []
        for e in self.entries:
            if e.role_key != role:
                continue
            c = _contact(e)
            if c is not None:
                out.append(c)
            elif e.person.unit_id:  # a unit holds the role: its people on the roster
                out.extend(self._unit(e.person.unit_id))
        return out

    def _unit(self, unit_id: str, *, prefer: tuple[str, ...] = ()) -> list[Contact]:
        members = [
            e for e in self.entries if e.person.unit_id == unit_id and (e.person.id or e.person.subject)
        ]
        preferred = [e for e in members if e.role_key in prefer]
        return [c for e in (preferred or members) if (c := _contact(e)) is not None]

    def _people(self, ids: list[str]) -> list[Contact]:
        return [c for i in ids if i in self.by_person and (c := _contact(self.by_person[i])) is not None]

    def _subjects(self, subjects: list[str]) -> list[Contact]:
        out = []
        for s in subjects:
            if s.startswith("service:"):
                continue
            entry = self.by_subject.get(s)
            c = _contact(entry) if entry is not None else None
            out.append(c or Contact(key=f"subject:{s}", name=s, subject=s, routes={"inbox": s}))
        return out

    def resolve(self, name: str) -> list[Contact]:
        found: list[Contact] = []
        if name == "assignee":
            found += self._people(_values(self.data, *_ASSIGNEE_PERSON))
            for unit in _values(self.data, *_ASSIGNEE_UNIT):
                found += self._unit(unit, prefer=AGENT_ROLES)
            found += self._subjects(_values(self.data, "assignee_subject", "responsible_subject"))
        elif name == "reporter":
            subjects = _values(self.data, *_REPORTER)
            if not subjects and self.actor:
                subjects = [self.actor]
            found += self._subjects(subjects)
        found += self._role(name)
        found += self._people(_values(self.data, f"{name}_person_id", f"{name}_person_ids"))
        found += self._subjects(_values(self.data, f"{name}_subject", f"{name}_subjects"))
        for c in found:
            c.roles.add(name)
        return found
