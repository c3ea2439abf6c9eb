"""Section ``service_log``: visit/service compliance rules checked from the 服务台账 (Fuxin ledger
approved by the business-environment bureau; Huiji: leaders visit monthly; Anyang: HQ on site twice a
week)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from steward.rules.base import Applicability, Key, StrictModel

__all__ = ["ServiceLogSection", "VisitRule"]


LedgerField = Literal["time", "place", "participants", "problems_solved"]
_LEDGER_FIELDS: tuple[LedgerField, ...] = ("time", "place", "participants", "problems_solved")


class VisitRule(StrictModel):
    role: Key = Field(description="roster role key whose holders must visit")
    min_visits: int = Field(ge=1)
    per: Literal["week", "month", "quarter"]
    on_site: bool = Field(True, description="only on-site visits (一线现场办公) count")
    applies_when: Applicability = Field(default_factory=Applicability)
    description_zh: str | None = None


class ServiceLogSection(StrictModel):
    rules: list[VisitRule] = Field(default_factory=list)
    approval_required: bool = Field(
        False, description="entries approved before they count (Fuxin: 营商局审定)"
    )
    approver_unit: str | None = None
    required_fields: list[LedgerField] = Field(default_factory=lambda: list(_LEDGER_FIELDS))
