"""Section ``roster``: the responsibility roster template (who must be named for a project) and the
role presets of the seeds: Shenyang (专员/专管员/联络员/联系人 + 实名责任制), Fuxin 六个一, Anyang 五个一.

Missing roles are a fact the registry reports (``roster.role_missing``), never ignored."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from steward.rules.base import Applicability, Key, ProjectFacts, StrictModel

__all__ = [
    "ANYANG_FIVE_ONES",
    "FUXIN_SIX_ONES",
    "SHENYANG_ROLES",
    "Cardinality",
    "RoleTemplate",
    "RosterSection",
]

Holder = Literal["person", "unit", "team", "body"]


class Cardinality(StrictModel):
    min: int = Field(1, ge=0)
    max: int | None = Field(1, ge=1, description="null = unbounded")

    @model_validator(mode="after")
    def _order(self) -> Cardinality:
        if self.max is not None and self.max < self.min:
            raise ValueError("cardinality.max must be ≥ cardinality.min")
        return self


class RoleTemplate(StrictModel):
    key: Key
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    holder: Holder = "person"
    required: bool = True
    cardinality: Cardinality = Field(default_factory=Cardinality)
    applies_when: Applicability = Field(default_factory=Applicability)
    description_zh: str | None = None

    @model_validator(mode="after")
    def _required_needs_someone(self) -> RoleTemplate:
        if self.required and self.cardinality.min < 1:
            raise ValueError("a required role needs cardinality.min ≥ 1")
        return self

    def required_for(self, facts: ProjectFacts) -> bool:
        return self.required and self.applies_when.matches(facts)


class RosterSection(StrictModel):
    template_name: str = "沈阳市项目专员（专管员、联络员、联系人）管理制度"
    roles: list[RoleTemplate] = Field(
        default_factory=lambda: [r.model_copy(deep=True) for r in SHENYANG_ROLES]
    )
    principles: list[str] = Field(
        default_factory=lambda: ["项目与管理人员一一对应，点对点调度管理和精准服务"],
        description="working principles shown with the roster; not roles, never checked",
    )

    @model_validator(mode="after")
    def _unique_keys(self) -> RosterSection:
        keys = [r.key for r in self.roles]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"roster.roles: duplicate role keys {dupes}")
        return self

    def role(self, key: str) -> RoleTemplate | None:
        return next((r for r in self.roles if r.key == key), None)

    def required_roles(self, facts: ProjectFacts) -> list[RoleTemplate]:
        return [r for r in self.roles if r.required_for(facts)]

    def missing_roles(self, facts: ProjectFacts, assigned: dict[str, int]) -> list[RoleTemplate]:
        """Required roles whose number of assignees (``assigned[key]``) is below ``cardinality.min``."""
        return [r for r in self.required_roles(facts) if assigned.get(r.key, 0) < r.cardinality.min]


_NAMED = Applicability(requires_flags=["named_responsibility"])
_STEWARD = Applicability(requires_flags=["steward_required"])

SHENYANG_ROLES: tuple[RoleTemplate, ...] = (
    RoleTemplate(
        key="specialist",
        name_zh="项目专员",
        name_en="Project specialist",
        description_zh="开发区（园区、街道、乡镇）或政府投资项目建设管理部门：上报进展，协调受阻问题并向上级报告",
    ),
    RoleTemplate(
        key="manager",
        name_zh="项目专管员",
        name_en="Project manager (DRC)",
        description_zh="市、区发展改革部门：负责分管区域项目总体情况，协调基层上报的受阻问题",
    ),
    RoleTemplate(
        key="liaison",
        name_zh="项目联络员",
        name_en="Industry liaison",
        applies_when=Applicability(funding_types=["enterprise", "ppp"]),
        description_zh="市区两级行业主管部门：政策落实、要素保障和“三争取”（企业投资产业项目）",
    ),
    RoleTemplate(
        key="enterprise_contact",
        name_zh="企业联系人",
        name_en="Enterprise contact",
        description_zh="项目业主单位：报告建设进展，反映受阻问题",
    ),
    RoleTemplate(
        key="responsible_leader",
        name_zh="责任领导",
        name_en="Responsible leader",
        applies_when=_NAMED,
        description_zh="亿元以上项目实名责任制",
    ),
    RoleTemplate(
        key="responsible_unit",
        name_zh="责任部门",
        name_en="Responsible department",
        holder="unit",
        applies_when=_NAMED,
        description_zh="亿元以上项目实名责任制：落实责任部门和地区",
    ),
    RoleTemplate(
        key="guarantor_leader",
        name_zh="包保领导",
        name_en="Guarantor leader",
        applies_when=_NAMED,
        description_zh="亿元以上项目全部包保；全市重大项目由副市级以上领导包保",
    ),
    RoleTemplate(
        key="steward",
        name_zh="项目管家",
        name_en="Project steward",
        applies_when=_STEWARD,
        description_zh="达到 thresholds.steward_required_min 的项目须逐项配备",
    ),
)

# Fuxin 六个一: 一个项目、一名领导、一个牵头单位、一套服务班子、一个项目秘书、一竿子抓到底.
# "一个项目" is the project itself and "一竿子抓到底" (follow through to the end) is a working principle,
# not a person to name, so neither is a role; the principle is listed in RosterSection.principles.
# The 项目管家 is the core of the mechanism and required for every project ≥ steward_required_min.
FUXIN_SIX_ONES: tuple[RoleTemplate, ...] = (
    RoleTemplate(
        key="steward",
        name_zh="项目管家",
        name_en="Project steward",
        applies_when=_STEWARD,
        description_zh="以项目管家为核心：协调前期手续、落实建设条件、统计入库、建立服务台账",
    ),
    RoleTemplate(
        key="leader",
        name_zh="一名领导",
        name_en="Leader",
        description_zh="定期深入现场调度；重大问题或项目管家无法协调的问题由领导出面协调",
    ),
    RoleTemplate(
        key="lead_unit",
        name_zh="一个牵头单位",
        name_en="Lead unit",
        holder="unit",
        description_zh="建立项目服务台账，联系各职能部门联系人解决问题，解决不了的按程序上报并跟踪",
    ),
    RoleTemplate(
        key="service_team",
        name_zh="一套服务班子",
        name_en="Service team",
        holder="team",
        cardinality=Cardinality(min=1, max=None),
        description_zh="“有求必应、无事不扰”",
    ),
    RoleTemplate(
        key="secretary",
        name_zh="一个项目秘书",
        name_en="Project secretary",
        applies_when=Applicability(major_only=True),
        description_zh="重大项目确定项目秘书，与企业联系人常态化沟通",
    ),
    RoleTemplate(
        key="enterprise_contact",
        name_zh="企业联系人",
        name_en="Enterprise contact",
        description_zh="项目（企业）一方的联系人",
    ),
)

# Anyang 五个一 (安示范办〔2017〕14号): one HQ, one county leader as commander, one bureau head,
# one agent (代办员, from the DRC key-project office), one township cadre.
ANYANG_FIVE_ONES: tuple[RoleTemplate, ...] = (
    RoleTemplate(
        key="hq",
        name_zh="指挥部",
        name_en="Project headquarters",
        holder="body",
        description_zh="由指挥长、责任单位一把手、乡镇科级干部、代办员等组成",
    ),
    RoleTemplate(
        key="commander",
        name_zh="指挥长（县级领导）",
        name_en="Commander (county leader)",
        description_zh="项目第一责任人，可随时召集各职能部门协调",
    ),
    RoleTemplate(
        key="bureau_head",
        name_zh="局委一把手",
        name_en="Head of responsible bureau",
        description_zh="责任单位一把手，项目建设具体负责人",
    ),
    RoleTemplate(
        key="agent",
        name_zh="代办员",
        name_en="Approval agent",
        description_zh="负责项目从落地到投产全程行政审批手续办理",
    ),
    RoleTemplate(
        key="township_cadre",
        name_zh="乡镇科级干部",
        name_en="Township cadre",
        description_zh="征地拆迁、协调企地关系、信访稳定",
    ),
)
