"""The filing look-up shared by matters and procedure files: the project (in the caller's scope),
the tenant's ancestry and effective rules through the registry, and whether the caller may file there."""

from __future__ import annotations

from dataclasses import dataclass

from steward.api.registry.v1 import registry_pb2 as rpb
from steward.issues.context import IssuesContext
from steward.issues.matters.schemas import Kind
from steward.kit.auth import Principal, Role
from steward.kit.errors import Forbidden, NotFound, ValidationFailed
from steward.kit.tenancy import ALL_TENANTS, ensure_writable
from steward.rules import RulesDocument

FILERS = tuple(r for r in Role if r not in (Role.AUDITOR, Role.AGENCY))


def bad(field: str, message: str, code: str = "validation_failed") -> ValidationFailed:
    return ValidationFailed(
        f"{field}: {message}", code=code, details=[{"loc": [field], "message": message, "type": code}]
    )


@dataclass
class Filing:
    """What filing needs from the registry, read before the transaction opens."""

    tenant: str
    ancestry: list[dict[str, str]]
    rules: RulesDocument
    project: rpb.Project | None
    fingerprint: str = ""  # of ``rules``, computed once per rules version (RegistryClient.fingerprint)


async def look_up_filing(
    ctx: IssuesContext,
    *,
    principal: Principal,
    kind: Kind,
    project_id: str | None,
    tenant: str | None,
    token: str | None,
) -> Filing:
    """The filing look-up: the project (with the caller's scope), the tenant's ancestry and effective
    rules, through the registry; the caller may file there. Used by matters and procedure files."""
    principal.require(*FILERS)
    project = None
    if project_id:
        project = await ctx.registry.project(project_id, token=token)
        if tenant and tenant != project.tenant:
            raise bad("tenant", "a project's matters are filed at the project's tenant")
    elif kind in (Kind.OBSTACLE, Kind.PROCEDURE):
        raise bad("project_id", f"a {kind.value} needs a project")
    tenant = project.tenant if project is not None else (tenant or principal.tenant)
    if tenant == ALL_TENANTS:
        raise bad("tenant", "name the tenant the matter belongs to")
    try:
        ancestry = [{"code": t.code, "kind": t.kind} for t in await ctx.registry.ancestry(tenant)]
    except NotFound as exc:
        raise bad("tenant", f"unknown tenant {tenant}") from exc
    ensure_writable(principal, [a["code"] for a in ancestry])
    if principal.is_enterprise and (project is None or project.owner_unit_id != principal.unit):
        raise Forbidden(
            "enterprise contacts file matters on their own projects only", code="not_your_project"
        )
    rules = await ctx.registry.rules(tenant)
    return Filing(
        tenant=tenant,
        ancestry=ancestry,
        rules=rules,
        project=project,
        fingerprint=ctx.registry.fingerprint(rules),
    )
