"""What a batch's fan-out looks up — the recipients' preferences, the template overrides of the
events' tenants, their agency subscriptions and robot or webhook endpoints — read in one statement
at the start of the batch's transaction (so never staler than it), into the batch's caches. Before,
each was its own statement per batch."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from steward.notify.channels.dispatch import ROBOTS
from steward.notify.channels.models import ChannelEndpoint
from steward.notify.deliveries import bulk
from steward.notify.preferences.models import Preference
from steward.notify.routing.service import Plan
from steward.notify.subscriptions.models import AgencySubscription
from steward.notify.templates.models import TemplateOverride

if TYPE_CHECKING:
    from steward.notify.deliveries.fanout import FanOutBatch

LOOKUPS = (
    "SELECT 'preference', to_jsonb(p) FROM preferences p WHERE p.subject = ANY($1::text[]) "
    "UNION ALL SELECT 'template', to_jsonb(t) FROM template_overrides t "
    "WHERE t.tenant = ANY($2::text[]) AND t.key = ANY($3::text[]) "
    "UNION ALL SELECT 'subscription', to_jsonb(s) FROM agency_subscriptions s "
    "WHERE s.tenant = ANY($2::text[]) AND s.enabled "
    "UNION ALL SELECT 'endpoint', to_jsonb(e) FROM channel_endpoints e "
    "WHERE e.tenant = ANY($2::text[]) AND e.channel = ANY($4::text[]) AND e.enabled"
)
ENDPOINT_CHANNELS = (*ROBOTS, "webhook")


@dataclass
class Found:
    preferences: dict[str, Preference] = field(default_factory=dict)
    templates: list[TemplateOverride] = field(default_factory=list)
    subscriptions: list[AgencySubscription] = field(default_factory=list)
    endpoints: list[ChannelEndpoint] = field(default_factory=list)


async def prefetch(batch: FanOutBatch, plans: Sequence[Plan]) -> None:
    """Fill ``batch``'s caches with everything ``plans`` will look up, in one statement."""
    subjects = sorted({t.contact.subject for p in plans for t in p.targets if t.contact.subject})
    ancestries = {tuple(p.ancestry) for p in plans if p.ancestry}
    if not ancestries and not subjects:
        return
    keys = sorted({t.template for p in plans for t in p.targets} | {"default"})
    channels = sorted({t.channel for p in plans for t in p.targets if t.channel in ENDPOINT_CHANNELS})
    tenants = sorted({t for a in ancestries for t in a})
    conn = await bulk.connection(batch.session)
    found = Found()
    for kind, raw in await conn.fetch(LOOKUPS, subjects, tenants, keys, channels):
        row = raw if isinstance(raw, dict) else json.loads(raw)  # the pool's connections decode jsonb
        if kind == "preference":
            pref = Preference.model_validate(row)
            found.preferences[pref.subject] = pref
        elif kind == "template":
            found.templates.append(TemplateOverride.model_validate(row))
        elif kind == "subscription":
            found.subscriptions.append(AgencySubscription.model_validate(row))
        else:
            found.endpoints.append(ChannelEndpoint.model_validate(row))
    batch.prefetched(found, subjects=subjects, ancestries=ancestries, keys=set(keys), channels=channels)
