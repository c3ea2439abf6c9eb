"""``steward nats``: read-only NATS access for agencies (发改、自然资源、生态环境 …).

An agency sees the events of one tenant and of every tenant below it (a district and its streets,
townships and zones). NATS wildcards match whole tokens only, so the access is one subject per
tenant code: ``steward.events.<code>.>`` for each code of the subtree, read from the registry
(``GET /v1/tenants?root=<code>``) or from a file of ``{code, parent}`` objects.

* ``steward nats agency-credentials`` prints the agency's NATS user for the server configuration
  (``accounts.<account>.users``): a generated password stored as a bcrypt hash, its own inbox prefix,
  and publish rights only for its own durable consumer's pull requests and acks.
* ``steward nats agency-consumer`` creates or updates that durable consumer on ``STEWARD_EVENTS``
  (operator credentials), with one filter subject per tenant code (``filter_subjects``,
  nats-server ≥ 2.10). The agency cannot create or change consumers itself, so it cannot widen its
  filter; it binds to the consumer (``pull_subscribe_bind``).

Re-run both after the tenant tree changed (see docs/events.md)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import bcrypt
import typer

nats_app = typer.Typer(no_args_is_help=True, help="NATS access for agencies: credentials and consumers.")

STREAM = "STEWARD_EVENTS"
SUBJECT_PREFIX = "steward.events"
ACCOUNT = "STEWARD"
BCRYPT_COST = 11  # the cost `nats server passwd` uses
_AGENCY = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")  # '-' only: the durable name spells it '_'
_TENANT = re.compile(r"^(?:\d{6}|\d{9}|\d{12})$")


class AccessError(ValueError):
    """Bad input for an agency's access (unknown tenant, bad name, unreadable tree)."""


@dataclass(frozen=True)
class AgencyAccess:
    """What one agency may read: the events of ``tenants`` (``tenant`` and its subtree)."""

    tenant: str
    agency: str
    tenants: tuple[str, ...]
    stream: str = STREAM
    subject_prefix: str = SUBJECT_PREFIX
    api_prefix: str = "$JS.API"  # "$JS.<domain>.API" on a cluster with a JetStream domain

    def __post_init__(self) -> None:
        if not _TENANT.match(self.tenant):
            raise AccessError(f"tenant must be a 6, 9 or 12 digit code, not {self.tenant!r}")
        if not _AGENCY.match(self.agency) or len(self.agency) > 32:
            raise AccessError(
                f"agency must be lower-case letters and digits joined by '-' (≤ 32), not {self.agency!r}"
            )
        if self.tenant not in self.tenants:
            raise AccessError(f"the tenant {self.tenant} is not in its own subtree")

    @property
    def user(self) -> str:
        return f"agency-{self.tenant}-{self.agency}"

    @property
    def durable(self) -> str:
        return f"agency_{self.tenant}_{self.agency.replace('-', '_')}"

    @property
    def inbox_prefix(self) -> str:
        return f"_INBOX_{self.durable}"

    @property
    def filter_subjects(self) -> list[str]:
        return [f"{self.subject_prefix}.{code}.>" for code in self.tenants]

    def permissions(self) -> dict[str, Any]:
        """An allow-list: everything not named here is denied (publishing events included)."""
        consumer = f"{self.stream}.{self.durable}"
        return {
            "publish": {
                "allow": [
                    f"{self.api_prefix}.CONSUMER.INFO.{consumer}",  # look its consumer up
                    f"{self.api_prefix}.CONSUMER.MSG.NEXT.{consumer}",  # fetch(): the pull request
                    f"$JS.ACK.{consumer}.>",  # ack / nak / in_progress / term
                ]
            },
            "subscribe": {
                # its own inbox: API replies and the pulled events; never "_INBOX.>" (others' replies)
                "allow": [f"{self.inbox_prefix}.>", *self.filter_subjects],
            },
        }

    def user_entry(self, password_hash: str) -> dict[str, Any]:
        return {"user": self.user, "password": password_hash, "permissions": self.permissions()}


# --------------------------------------------------------------------------- the tenant tree


def subtree(tenant: str, items: list[dict[str, Any]]) -> tuple[str, ...]:
    """``tenant`` and every tenant below it, by the ``parent`` links of ``items`` (sorted codes)."""
    children: dict[str, list[str]] = {}
    known: set[str] = set()
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("code"), str):
            raise AccessError(f"a tenant needs a string 'code' (and 'parent'): {item!r}")
        known.add(item["code"])
        parent = item.get("parent")
        if parent is not None:
            children.setdefault(str(parent), []).append(item["code"])
    if tenant not in known:
        raise AccessError(f"tenant {tenant} is not in the tenant tree")
    found, todo = {tenant}, [tenant]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return tuple(sorted(found))


def load_tenants_file(path: Path) -> list[dict[str, Any]]:
    """A JSON list of ``{code, parent}`` objects, or ``GET /v1/tenants``'s ``{"items": [...]}``."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise AccessError(f"cannot read the tenants file {path}: {exc}") from exc
    items = data.get("items") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise AccessError(f"{path}: expected a list of tenants or {{'items': [...]}}")
    return items


def fetch_tenants(tenant: str, registry: str | None, data_dir: Path | None) -> list[dict[str, Any]]:
    """The subtree of ``tenant`` from the registry's REST API (``STEWARD_TOKEN``, else a dev token)."""
    from steward.devtools.dlq import _call, _client

    with _client(registry, data_dir) as client:
        items = _call(client, "GET", "/v1/tenants", params={"root": tenant})["items"]
    return list(items)


def resolve(
    tenant: str,
    agency: str,
    tenants_file: Path | None,
    registry: str | None,
    data_dir: Path | None,
) -> tuple[AgencyAccess, dict[str, str]]:
    """The agency's access and the names of its tenants (for the comments of the configuration)."""
    items = load_tenants_file(tenants_file) if tenants_file else fetch_tenants(tenant, registry, data_dir)
    access = AgencyAccess(tenant=tenant, agency=agency, tenants=subtree(tenant, items))
    names = {str(i["code"]): str(i.get("name") or "") for i in items if i["code"] in access.tenants}
    return access, names


# --------------------------------------------------------------------------- rendering


def new_password() -> tuple[str, str]:
    """A random password and its bcrypt hash (nats-server verifies ``$2…`` passwords as bcrypt)."""
    password = secrets.token_urlsafe(24)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_COST)).decode()
    return password, hashed


def render_conf(access: AgencyAccess, password_hash: str, names: dict[str, str] | None = None) -> str:
    """The user entry in nats-server configuration syntax (JSON is valid there; quoted strings keep
    ``$`` literal), for ``accounts { STEWARD { users: [ … ] } }``."""
    lines = [
        f"# {access.user}: read-only events of {len(access.tenants)} tenant(s) — {access.tenant} and its subtree",
        f"#   durable consumer {access.durable} on {access.stream} (created by `steward nats agency-consumer`),",
        f"#   inbox prefix {access.inbox_prefix}. Regenerate when the tenant tree changes.",
    ]
    for code in access.tenants:
        lines.append(f"#   {code} {(names or {}).get(code, '')}".rstrip())
    return (
        "\n".join(lines) + "\n" + json.dumps(access.user_entry(password_hash), indent=2, ensure_ascii=False)
    )


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


TenantOpt = Annotated[str, typer.Option("--tenant", help="The agency's tenant code, e.g. 210112.")]
AgencyOpt = Annotated[str, typer.Option("--agency", help="Short agency name, e.g. env, ndrc, housing.")]
TenantsFileOpt = Annotated[
    Path | None,
    typer.Option("--tenants-file", help="JSON tenants ({code, parent} list or GET /v1/tenants output)."),
]
RegistryOpt = Annotated[
    str | None,
    typer.Option(
        "--registry", help="Registry REST URL (default: the running `dev up`); token: STEWARD_TOKEN."
    ),
]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="Data dir of the running dev platform.")]


@nats_app.command("agency-credentials")
def agency_credentials(
    tenant: TenantOpt,
    agency: AgencyOpt,
    tenants_file: TenantsFileOpt = None,
    registry: RegistryOpt = None,
    data_dir: DataDirOpt = None,
    password_hash: Annotated[
        str | None,
        typer.Option(
            "--password-hash",
            help="Keep the agency's password: the bcrypt hash of its current entry (re-runs after a tree change).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print everything as one JSON object.")] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file (mode 600) instead of stdout.")
    ] = None,
) -> None:
    """Print the agency's NATS user (nats-server config) allowing exactly its tenants' events.

    A new password is generated (printed once on stderr, or in the JSON) unless --password-hash keeps
    the current one."""
    try:
        access, names = resolve(tenant, agency, tenants_file, registry, data_dir)
    except AccessError as exc:
        raise _fail(str(exc)) from exc
    password: str | None = None
    if password_hash is None:
        password, password_hash = new_password()
    elif not password_hash.startswith("$2"):
        raise _fail("--password-hash must be a bcrypt hash ($2a$/$2b$…)")
    if as_json:
        document = {
            "account": ACCOUNT,
            "user_entry": access.user_entry(password_hash),
            "connect": {
                "user": access.user,
                "password": password,
                "inbox_prefix": access.inbox_prefix,
                "stream": access.stream,
                "durable": access.durable,
            },
            "tenants": list(access.tenants),
            "filter_subjects": access.filter_subjects,
        }
        text = json.dumps(document, indent=2, ensure_ascii=False)
    else:
        text = render_conf(access, password_hash, names)
    if output is None:
        typer.echo(text)
    else:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text + "\n")
        typer.echo(f"wrote {output}", err=True)
    if password is not None and not as_json:
        typer.echo(
            f"password of {access.user} (hand it to the agency; it is not stored anywhere): {password}",
            err=True,
        )


async def apply_consumer(
    access: AgencyAccess,
    nats_url: str,
    *,
    user: str | None,
    password: str | None,
    deliver: str,
    max_ack_pending: int = 256,
) -> tuple[str, Any]:
    """Create the agency's durable, or set the filter subjects of the existing one (its position and
    other settings are kept). Returns ``("created" | "updated" | "unchanged", ConsumerInfo)``."""
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
    from nats.js.errors import NotFoundError

    nc = await nats.connect(
        nats_url, user=user, password=password, connect_timeout=5, max_reconnect_attempts=0
    )
    try:
        js = nc.jetstream()
        try:
            current = (await js.consumer_info(access.stream, access.durable)).config
        except NotFoundError:
            config = ConsumerConfig(
                name=access.durable,
                durable_name=access.durable,
                description=f"agency {access.agency} of {access.tenant}",
                filter_subjects=access.filter_subjects,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy(deliver),
                ack_wait=60.0,
                max_ack_pending=max_ack_pending,
            )
            return "created", await js.add_consumer(access.stream, config)
        if sorted(current.filter_subjects or [current.filter_subject or ""]) == sorted(
            access.filter_subjects
        ):
            return "unchanged", await js.consumer_info(access.stream, access.durable)
        current.filter_subject = None
        current.filter_subjects = access.filter_subjects
        current.name = access.durable
        return "updated", await js.add_consumer(access.stream, current)
    finally:
        await nc.close()


@nats_app.command("agency-consumer")
def agency_consumer(
    tenant: TenantOpt,
    agency: AgencyOpt,
    tenants_file: TenantsFileOpt = None,
    registry: RegistryOpt = None,
    data_dir: DataDirOpt = None,
    nats_url: Annotated[
        str, typer.Option("--nats-url", envvar="STEWARD_NATS_URL", help="NATS URL (operator credentials).")
    ] = "nats://127.0.0.1:4222",
    user: Annotated[str | None, typer.Option("--user", envvar="STEWARD_NATS_USER")] = None,
    password: Annotated[str | None, typer.Option("--password", envvar="STEWARD_NATS_PASSWORD")] = None,
    deliver: Annotated[
        str, typer.Option("--deliver", help="Where a new consumer starts: all (replay what is kept) or new.")
    ] = "all",
    max_ack_pending: Annotated[
        int,
        typer.Option(
            "--max-ack-pending", min=1, help="A new consumer's unacked events at a time (1: in order)."
        ),
    ] = 256,
) -> None:
    """Create or update the agency's durable consumer: one filter subject per tenant of its subtree."""
    if deliver not in ("all", "new"):
        raise _fail("--deliver must be 'all' or 'new'")
    try:
        access, _ = resolve(tenant, agency, tenants_file, registry, data_dir)
    except AccessError as exc:
        raise _fail(str(exc)) from exc
    try:
        outcome, info = asyncio.run(
            apply_consumer(
                access,
                nats_url,
                user=user,
                password=password,
                deliver=deliver,
                max_ack_pending=max_ack_pending,
            )
        )
    except Exception as exc:  # connection refused, auth, JetStream API error: all end the command
        raise _fail(f"cannot create the consumer on {nats_url}: {exc!r}", 1) from exc
    typer.echo(
        f"{outcome} consumer {access.stream}/{access.durable}: {len(access.tenants)} filter subject(s), "
        f"{info.num_pending} pending"
    )
