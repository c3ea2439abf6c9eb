"""Bodies of the registry's inbound interface: a statistics system reports a project's inclusion in
statistics (入库/纳统) and its monthly investment; a land system reports the land handover (交地)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter

from steward.kit.inputs import Input
from steward.kit.money import Money
from steward.rules.base import Key

MessageId = Annotated[str, Field(min_length=1, max_length=128, description="the sender's own id")]
Month = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]


class ProjectMessage(Input):
    message_id: MessageId
    project_code: str = Field(
        min_length=1, max_length=40, description="一项一码, or the 24-character national project code"
    )
    occurred_at: datetime | None = Field(default=None, description="when it happened at the sender")
    note: str = Field(default="", max_length=2000)


class StatisticsStatus(StrEnum):
    IN_LIBRARY = "in_library"  # 入库: in the statistics system's project library
    IN_STATISTICS = "in_statistics"  # 纳统: counted in fixed-asset investment statistics

    @property
    def rank(self) -> int:
        return list(StatisticsStatus).index(self)


class StatisticsIncluded(ProjectMessage):
    """入库 or 纳统 (a project is in the library before it is counted; never back)."""

    kind: Literal["statistics.included"]
    status: StatisticsStatus
    on: date = Field(description="the day it took effect at the statistics system")
    statistics_code: str | None = Field(default=None, max_length=64, description="统计库项目编码")


class MonthlyInvestmentReported(ProjectMessage):
    """The month's investment as the statistics system counted it (only for projects 纳统)."""

    kind: Literal["statistics.investment"]
    month: Month
    amount: Money = Field(description="the month's investment in yuan, exact ('1200000', '120万')")
    cumulative: Money | None = Field(default=None, description="cumulative since the start, when known")


class LandHandedOver(ProjectMessage):
    """交地: the land was handed over; reaches the land node of the project's network plan."""

    kind: Literal["land.handover"]
    handed_over_on: date
    node: Key | None = Field(
        default=None,
        description="key of the network-plan node it reaches (default: the first of land_handover, "
        "land, land_contract, land_contract_signed the plan has)",
    )
    parcel: str = Field(default="", max_length=200, description="宗地编号")


RegistryMessage = Annotated[
    StatisticsIncluded | MonthlyInvestmentReported | LandHandedOver, Field(discriminator="kind")
]
MESSAGE = TypeAdapter(RegistryMessage)


class ProjectBulk(Input):
    messages: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=200,
        description="messages (the body of POST /v1/inbound/projects each); each is validated and "
        "applied on its own",
    )


class MonthOut(BaseModel):
    month: str
    amount: Decimal
    cumulative: Decimal | None
    reported_by: str
    reported_at: datetime


class StatisticsOut(BaseModel):
    project_id: str
    project_code: str
    status: StatisticsStatus | None = Field(description="None: not reported by the statistics system")
    statistics_code: str | None
    in_library_on: date | None
    in_statistics_on: date | None
    months: list[MonthOut]
    year_total: dict[str, Decimal] = Field(description="investment counted per calendar year")
