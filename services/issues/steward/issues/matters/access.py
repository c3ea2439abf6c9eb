"""Who may act on a matter: handlers (sorting, assigning, rejecting, escalating) at the handling
tenant or above; workers (the responsible unit's people, or handlers); the reporter for feedback.
Scope (the caller's subtree, enterprise ownership) is checked before by ``service.get``."""

from __future__ import annotations

from steward.issues.matters.models import Matter
from steward.kit.auth import Principal, Role
from steward.kit.errors import Forbidden
from steward.kit.tenancy import in_subtree

HANDLERS = (
    Role.PLATFORM_ADMIN,
    Role.TENANT_ADMIN,
    Role.DISPATCHER,
    Role.SPECIALIST,
    Role.LEADER,
    Role.SUPERVISOR,
    Role.SERVICE,
)
WORKERS = (*HANDLERS, Role.AGENT, Role.LIAISON, Role.STEWARD)
ON_BEHALF = (Role.PLATFORM_ADMIN, Role.TENANT_ADMIN, Role.DISPATCHER, Role.SERVICE)


def _handling_chain(m: Matter) -> list[str]:
    codes = m.tenant_path.split("/")
    return codes[: codes.index(m.handling_tenant) + 1] if m.handling_tenant in codes else codes


def ensure_handler(principal: Principal, m: Matter) -> None:
    """Sorting, assigning, rejecting, escalating: staff at the handling tenant or above."""
    if principal.is_enterprise or not principal.has(*HANDLERS):
        raise Forbidden("requires a dispatching role at the handling tenant", code="role_required")
    if not in_subtree(principal.tenant, _handling_chain(m)):
        raise Forbidden(
            f"the matter is handled at {m.handling_tenant}, above your scope", code="not_handling_tenant"
        )


def ensure_worker(principal: Principal, m: Matter) -> None:
    """Working on it: the responsible unit's people, or staff at the handling tenant or above."""
    if principal.is_enterprise:
        raise Forbidden("enterprise contacts cannot work on a matter", code="role_required")
    if principal.unit and principal.unit == m.responsible_unit_id and principal.has(*WORKERS):
        return
    if not principal.has(*WORKERS):
        raise Forbidden("requires a working role", code="role_required")
    if not in_subtree(principal.tenant, _handling_chain(m)):
        raise Forbidden(
            f"the matter is handled at {m.handling_tenant}, above your scope", code="not_handling_tenant"
        )


def ensure_reporter(principal: Principal, m: Matter) -> None:
    """Feedback (confirm, reopen, close, rate, resubmit): the reporter, or an admin on their behalf."""
    if principal.subject == m.reporter:
        return
    if not principal.has(*ON_BEHALF) or principal.is_enterprise:
        raise Forbidden("only the reporter gives feedback on a matter", code="not_reporter")
