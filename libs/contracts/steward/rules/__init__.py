"""Tenant rules document (docs/architecture.md): Pydantic v2 models shared by every service.

One validated document per tenant; a tenant stores an override that is merged onto its parent's
effective document (mappings merge recursively, lists replace wholesale) — see
:mod:`steward.rules.document`. Money is integer 元 (``"2000万"`` accepted on input), points are
``Decimal``, ratios are exact fractions, and every model forbids unknown keys.
"""

from steward.rules.base import (
    Applicability,
    DispatchTierName,
    FundingType,
    KeyLevel,
    MatterKind,
    MatterTier,
    ProjectFacts,
    Stage,
    StrictModel,
    TenantLevel,
)
from steward.rules.calendar import CalendarSection, DayEntry
from steward.rules.document import (
    SECTIONS,
    Change,
    ErrorItem,
    RulesDocument,
    deep_merge,
    default_rules,
    diff_rules,
    effective_rules,
    errors_from_validation,
    merge_rules,
    override_json_schema,
    rules_fingerprint,
    rules_json_schema,
    validate_override,
)
from steward.rules.matters import (
    EscalationPolicy,
    MatterCategory,
    MattersSection,
    MatterSubItem,
    ProcedureSpec,
    ReminderPolicy,
    SlaTable,
    TierDays,
    TierDaysOverride,
    green_channel_days,
)
from steward.rules.meetings import AgendaDeadline, MeetingSeries, MeetingsSection
from steward.rules.money import Yuan, format_yuan, parse_yuan
from steward.rules.notify import DigestSettings, NotifyFilter, NotifyRoute, NotifySection, QuietHours
from steward.rules.presets import PRESETS, preset_names, preset_override, preset_rules
from steward.rules.reports import ReportSchedule, ReportsSection
from steward.rules.roster import Cardinality, RoleTemplate, RosterSection
from steward.rules.scoring import (
    Consequence,
    Dimension,
    RankingDef,
    ScorecardDef,
    ScorecardsSection,
    ScoreCondition,
    ScoreRule,
    SurveyConsequence,
    SurveyDef,
    SurveyItem,
)
from steward.rules.service_log import ServiceLogSection, VisitRule
from steward.rules.thresholds import Dispatch, DispatchTier, ThresholdsSection, derive_dispatch

# Alias for readability at call sites: a tenant's own partial document is a plain mapping merged
# with merge_rules(); validate it with validate_override() and describe it with override_json_schema().
PartialRulesDocument = dict

__all__ = [
    "PRESETS",
    "SECTIONS",
    "AgendaDeadline",
    "Applicability",
    "CalendarSection",
    "Cardinality",
    "Change",
    "Consequence",
    "DayEntry",
    "DigestSettings",
    "Dimension",
    "Dispatch",
    "DispatchTier",
    "DispatchTierName",
    "ErrorItem",
    "EscalationPolicy",
    "FundingType",
    "KeyLevel",
    "MatterCategory",
    "MatterKind",
    "MatterSubItem",
    "MatterTier",
    "MattersSection",
    "MeetingSeries",
    "MeetingsSection",
    "NotifyFilter",
    "NotifyRoute",
    "NotifySection",
    "PartialRulesDocument",
    "ProcedureSpec",
    "ProjectFacts",
    "QuietHours",
    "RankingDef",
    "ReminderPolicy",
    "ReportSchedule",
    "ReportsSection",
    "RoleTemplate",
    "RosterSection",
    "RulesDocument",
    "ScoreCondition",
    "ScoreRule",
    "ScorecardDef",
    "ScorecardsSection",
    "ServiceLogSection",
    "SlaTable",
    "Stage",
    "StrictModel",
    "SurveyConsequence",
    "SurveyDef",
    "SurveyItem",
    "TenantLevel",
    "ThresholdsSection",
    "TierDays",
    "TierDaysOverride",
    "VisitRule",
    "Yuan",
    "deep_merge",
    "default_rules",
    "derive_dispatch",
    "diff_rules",
    "effective_rules",
    "errors_from_validation",
    "format_yuan",
    "green_channel_days",
    "merge_rules",
    "override_json_schema",
    "parse_yuan",
    "preset_names",
    "preset_override",
    "preset_rules",
    "rules_fingerprint",
    "rules_json_schema",
    "validate_override",
]
