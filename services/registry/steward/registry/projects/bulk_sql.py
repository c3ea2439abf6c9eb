"""The batch registration's statements: one multi-row INSERT per table (``unnest`` of arrays).

Columns as in services/registry/migrations (projects, project_stage_changes, project_code_counters)
and the kit's steward_audit / steward_outbox.
"""

from __future__ import annotations

import sqlalchemy as sa

COUNTERS = sa.text(
    """
    INSERT INTO project_code_counters (tenant_code, year, last)
    SELECT t, CAST(:year AS integer), n
    FROM unnest(CAST(:tenants AS text[]), CAST(:ns AS integer[])) AS u(t, n)
    ORDER BY t
    ON CONFLICT (tenant_code, year) DO UPDATE SET last = project_code_counters.last + excluded.last
    RETURNING tenant_code, last
    """
)

PROJECTS = sa.text(
    """
    INSERT INTO projects (
        id, code, national_code, tenant_code, tenant_path, name, owner_unit_id, total_investment,
        annual_plan_investment, funding_type, industry, key_level, major, stage,
        stage_before_suspension, tier, on_platform, steward_required, named_responsibility,
        derivation, lat, lon, address, planned_start, planned_completion, created_by,
        created_at, updated_at, row_version
    )
    SELECT id, code, national_code, tenant_code, tenant_path, name, owner_unit_id, total_investment,
        annual_plan_investment, funding_type, industry, key_level, major, stage,
        NULL, tier, on_platform, steward_required, named_responsibility,
        CAST(derivation AS jsonb), lat, lon, address, planned_start, planned_completion,
        CAST(:actor AS text), CAST(:now AS timestamptz), CAST(:now AS timestamptz), 1
    FROM unnest(
        CAST(:id AS uuid[]), CAST(:code AS text[]), CAST(:national_code AS text[]),
        CAST(:tenant_code AS text[]), CAST(:tenant_path AS text[]), CAST(:name AS text[]),
        CAST(:owner_unit_id AS uuid[]), CAST(:total_investment AS numeric[]),
        CAST(:annual_plan_investment AS numeric[]), CAST(:funding_type AS text[]),
        CAST(:industry AS text[]), CAST(:key_level AS text[]), CAST(:major AS boolean[]),
        CAST(:stage AS text[]), CAST(:tier AS text[]), CAST(:on_platform AS boolean[]),
        CAST(:steward_required AS boolean[]), CAST(:named_responsibility AS boolean[]),
        CAST(:derivation AS text[]), CAST(:lat AS float8[]), CAST(:lon AS float8[]),
        CAST(:address AS text[]), CAST(:planned_start AS date[]), CAST(:planned_completion AS date[])
    ) AS u(id, code, national_code, tenant_code, tenant_path, name, owner_unit_id, total_investment,
           annual_plan_investment, funding_type, industry, key_level, major, stage, tier, on_platform,
           steward_required, named_responsibility, derivation, lat, lon, address, planned_start,
           planned_completion)
    """
)

STAGES = sa.text(
    """
    INSERT INTO project_stage_changes (id, project_id, from_stage, to_stage, reason, actor, at)
    SELECT id, project_id, NULL, to_stage, 'registered', CAST(:actor AS text), CAST(:now AS timestamptz)
    FROM unnest(CAST(:id AS uuid[]), CAST(:project_id AS uuid[]), CAST(:to_stage AS text[]))
         AS u(id, project_id, to_stage)
    """
)

AUDIT = sa.text(
    """
    INSERT INTO steward_audit (id, at, actor, tenant, action, entity, entity_id, changes)
    SELECT id, CAST(:now AS timestamptz), CAST(:actor AS text), tenant, 'create', 'project', entity_id,
           CAST(changes AS jsonb)
    FROM unnest(CAST(:id AS uuid[]), CAST(:tenant AS text[]), CAST(:entity_id AS text[]),
                CAST(:changes AS text[])) AS u(id, tenant, entity_id, changes)
    """
)

OUTBOX = sa.text(
    """
    INSERT INTO steward_outbox (id, subject, type, tenant, payload, headers, created_at, attempts)
    SELECT id, subject, type, tenant, CAST(payload AS jsonb), CAST(headers AS jsonb), created_at, 0
    FROM unnest(CAST(:id AS uuid[]), CAST(:subject AS text[]), CAST(:type AS text[]),
                CAST(:tenant AS text[]), CAST(:payload AS text[]), CAST(:headers AS text[]),
                CAST(:created_at AS timestamptz[]))
         AS u(id, subject, type, tenant, payload, headers, created_at)
    """
)


PROJECT_ARRAYS = (
    "id",
    "code",
    "national_code",
    "tenant_code",
    "tenant_path",
    "name",
    "owner_unit_id",
    "total_investment",
    "annual_plan_investment",
    "funding_type",
    "industry",
    "key_level",
    "major",
    "stage",
    "tier",
    "on_platform",
    "steward_required",
    "named_responsibility",
    "derivation",
    "lat",
    "lon",
    "address",
    "planned_start",
    "planned_completion",
)
