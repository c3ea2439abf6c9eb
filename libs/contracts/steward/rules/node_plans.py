"""Section ``node_plans``: node-plan templates (挂图作战 网络计划) a project's network plan is generated from.

A template lists the standard nodes from signing to operation, each with a default duration in
working days and the nodes it follows (``after``): nodes without a common predecessor chain run in
parallel, the others in series. Applying a template to a project computes every node's planned
start and finish on the tenant's working calendar; delaying a node pushes its successors (and only
them). Two templates ship as defaults: ``standard`` (the seven stages named in the seeds) and
``chengdu`` (a finer serial/parallel set in the style of Chengdu's key-project node plans — an
example preset, not an official list). A tenant's override replaces the list.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from steward.rules.base import Key, StrictModel

__all__ = ["NodePlanTemplate", "NodePlansSection", "PlanNode", "topological_order"]


class PlanNode(StrictModel):
    key: Key
    name_zh: str = Field(min_length=1, max_length=200)
    duration_days: int = Field(
        ge=0, le=2000, description="working days, the start day counted; 0 = a point in time (签约)"
    )
    after: list[Key] = Field(default_factory=list, description="keys of the nodes this one follows")
    weight: int = Field(default=1, ge=1, le=100)


class NodePlanTemplate(StrictModel):
    key: Key
    name_zh: str = Field(min_length=1, max_length=200)
    nodes: list[PlanNode] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _network(self) -> NodePlanTemplate:
        keys = [n.key for n in self.nodes]
        if len(set(keys)) != len(keys):
            raise ValueError(f"template {self.key!r}: node keys repeat")
        known = set(keys)
        for n in self.nodes:
            unknown = [a for a in n.after if a not in known]
            if unknown:
                raise ValueError(f"template {self.key!r}: node {n.key!r} follows unknown {unknown}")
        topological_order({n.key: list(n.after) for n in self.nodes}, what=f"template {self.key!r}")
        return self


def topological_order(after: dict[str, list[str]], *, what: str = "network") -> list[str]:
    """Keys ordered so every node comes after its predecessors (stable: input order breaks ties)."""
    order: list[str] = []
    placed: set[str] = set()
    pending = list(after)
    while pending:
        ready = [k for k in pending if all(p in placed for p in after[k])]
        if not ready:
            raise ValueError(f"{what}: the dependencies form a cycle through {sorted(pending)}")
        for k in ready:
            order.append(k)
            placed.add(k)
        pending = [k for k in pending if k not in placed]
    return order


def _n(key: str, name: str, days: int, *after: str, weight: int = 1) -> PlanNode:
    return PlanNode(key=key, name_zh=name, duration_days=days, after=list(after), weight=weight)


STANDARD = NodePlanTemplate(
    key="standard",
    name_zh="标准节点计划（签约至投产）",
    nodes=[
        _n("signed", "项目签约", 0),
        _n("land", "土地摘牌/出让合同", 40, "signed"),
        _n("planning_permit", "建设工程规划许可", 20, "land"),
        _n("construction_permit", "施工许可", 15, "planning_permit"),
        _n("start", "开工", 0, "construction_permit", weight=2),
        _n("completion", "竣工", 240, "start", weight=4),
        _n("acceptance", "竣工验收", 20, "completion"),
        _n("operation", "投产", 10, "acceptance", weight=2),
    ],
)

CHENGDU = NodePlanTemplate(
    key="chengdu",
    name_zh="成都式重点项目串并联节点计划（示例）",
    nodes=[
        _n("signed", "签订投资协议", 0),
        _n("registration", "企业注册/项目公司设立", 10, "signed"),
        _n("project_code", "项目赋码与备案/核准", 5, "registration"),
        _n("site_selection", "选址意见/用地预审", 15, "signed"),
        _n("land_survey", "土地勘测定界", 10, "site_selection"),
        _n("land_listing", "土地挂牌出让", 25, "land_survey"),
        _n("land_contract", "签订土地出让合同", 5, "land_listing"),
        _n("land_certificate", "不动产权证（土地）", 10, "land_contract"),
        _n("eia", "环境影响评价审批", 20, "project_code"),
        _n("energy_review", "节能审查", 15, "project_code"),
        _n("safety_review", "安全预评价", 15, "project_code"),
        _n("scheme_design", "规划设计方案审查", 15, "land_contract", "project_code"),
        _n("land_use_permit", "建设用地规划许可", 5, "land_contract"),
        _n("planning_permit", "建设工程规划许可", 10, "scheme_design", "land_use_permit"),
        _n("drawing_review", "施工图审查", 15, "scheme_design"),
        _n("fire_design", "消防设计审查", 10, "drawing_review"),
        _n("tender", "施工招标/合同备案", 20, "drawing_review"),
        _n("quality_safety", "质量安全监督登记", 3, "tender"),
        _n(
            "construction_permit",
            "施工许可",
            5,
            "planning_permit",
            "fire_design",
            "quality_safety",
            "land_certificate",
            "eia",
            "energy_review",
            "safety_review",
        ),
        _n("start", "开工", 0, "construction_permit", weight=2),
        _n("foundation", "基础工程完成", 60, "start", weight=2),
        _n("structure", "主体结构封顶", 120, "foundation", weight=3),
        _n("utilities", "水电气讯配套接入", 30, "structure"),
        _n("equipment", "设备安装调试", 60, "structure", weight=2),
        _n("completion", "竣工", 0, "utilities", "equipment", weight=2),
        _n("fire_acceptance", "消防验收", 10, "completion"),
        _n("planning_acceptance", "规划核实", 10, "completion"),
        _n("env_acceptance", "环保验收", 15, "completion"),
        _n(
            "joint_acceptance", "联合竣工验收", 10, "fire_acceptance", "planning_acceptance", "env_acceptance"
        ),
        _n("property_certificate", "不动产登记（房屋）", 15, "joint_acceptance"),
        _n("trial_operation", "试生产", 30, "joint_acceptance"),
        _n("operation", "正式投产", 0, "trial_operation", "property_certificate", weight=2),
    ],
)


def _defaults() -> list[NodePlanTemplate]:
    return [STANDARD.model_copy(deep=True), CHENGDU.model_copy(deep=True)]


class NodePlansSection(StrictModel):
    templates: list[NodePlanTemplate] = Field(default_factory=_defaults)
    change_approver_roles: list[Key] = Field(
        default_factory=lambda: ["lead_unit", "responsible_unit"],
        min_length=1,
        description="roster roles held by units (牵头单位 first): the first one the project has "
        "approves the owner's changes to planned node dates",
    )

    @model_validator(mode="after")
    def _unique(self) -> NodePlansSection:
        keys = [t.key for t in self.templates]
        if len(set(keys)) != len(keys):
            raise ValueError("node_plans.templates: template keys repeat")
        return self

    def template(self, key: str) -> NodePlanTemplate | None:
        return next((t for t in self.templates if t.key == key), None)
