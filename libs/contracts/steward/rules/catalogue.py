"""Default obstacle taxonomy and approval-procedure catalogue.

DEFAULT, CONFIGURABLE — NOT AN OFFICIAL LIST. Shenyang's notice says obstacles are sorted into
"8大类、45小项" but does not publish them; the 8 categories × 45 sub-items below are a plausible
starting point built from the problems the seeds mention (land, planning, environment, approvals,
funding, utilities, land acquisition and construction environment, policy implementation).
The procedure list follows the procedures named by Huiji, Jinniu and Anyang; departments, levels,
difficulty and promised days are typical values for a tenant to adjust.
"""

from __future__ import annotations

__all__ = ["DEFAULT_PROCEDURES", "DEFAULT_TAXONOMY"]

# (code, name_zh, name_en, default tier, [(sub code, name_zh), ...])
DEFAULT_TAXONOMY: list[tuple[str, str, str, str, list[tuple[str, str]]]] = [
    (
        "land",
        "土地",
        "Land",
        "district",
        [
            ("land_indicator", "用地指标不足"),
            ("land_supply", "土地招拍挂出让进度"),
            ("land_transfer_handover", "出让地块移交（净地不净）"),
            ("land_certificate", "不动产权证办理"),
            ("land_idle", "已供土地闲置、未建、停建"),
            ("land_use_change", "土地性质或用途调整"),
        ],
    ),
    (
        "planning",
        "规划",
        "Planning",
        "district",
        [
            ("planning_conditions", "规划条件出具"),
            ("planning_adjustment", "控制性详细规划调整"),
            ("scheme_review", "设计方案审查"),
            ("multi_plan", "“多规合一”协同"),
            ("planning_verification", "规划核实"),
            ("road_red_line", "道路红线与市政规划衔接"),
        ],
    ),
    (
        "environment",
        "环评与能评",
        "Environment and energy",
        "district",
        [
            ("eia_approval", "环境影响评价审批"),
            ("emission_quota", "污染物排放总量指标"),
            ("energy_review", "节能审查"),
            ("soil_water", "水土保持方案"),
            ("safety_review", "安全评价与职业卫生"),
        ],
    ),
    (
        "approval",
        "手续审批",
        "Approvals and permits",
        "unit",
        [
            ("filing", "项目备案、核准"),
            ("site_selection", "用地预审与选址"),
            ("construction_permit", "施工许可"),
            ("fire_review", "消防设计审查与验收"),
            ("joint_acceptance", "竣工联合验收"),
            ("higher_level", "需上级审批事项对接"),
        ],
    ),
    (
        "funding",
        "资金",
        "Funding",
        "district",
        [
            ("government_funds", "政府投资资金落实"),
            ("special_bonds", "专项债券与上级资金争取"),
            ("bank_loans", "银行贷款与融资"),
            ("subsidy_payment", "补贴奖励兑现"),
            ("wage_arrears", "拖欠农民工工资"),
        ],
    ),
    (
        "utilities",
        "要素保障（水电气热）",
        "Utilities (water, power, gas, heat)",
        "district",
        [
            ("power", "供电接入与增容"),
            ("water", "供水接入"),
            ("gas", "燃气接入"),
            ("heat", "供热接入"),
            ("drainage", "排水与污水接入"),
            ("roads_network", "道路与通信配套"),
        ],
    ),
    (
        "site",
        "征地拆迁与施工环境",
        "Land acquisition and construction environment",
        "unit",
        [
            ("acquisition", "征地补偿"),
            ("demolition", "房屋拆迁安置"),
            ("relocation_facilities", "管线、坟地等迁改"),
            ("obstruction", "阻工、强揽工程、强装强卸"),
            ("petition", "信访稳定"),
            ("temporary_land", "临时用地与施工场地"),
        ],
    ),
    (
        "policy",
        "政策落实",
        "Policy implementation",
        "city",
        [
            ("preferential_policy", "优惠政策兑现"),
            ("investment_agreement", "招商协议条款落实"),
            ("talent_labor", "人才与用工"),
            ("statistics", "统计入库"),
            ("efficiency_complaint", "审批缓慢、推诿扯皮（效能问题）"),
        ],
    ),
]

# (code, name_zh, department, level, difficulty, promised working days)
DEFAULT_PROCEDURES: list[tuple[str, str, str, str, str, int]] = [
    ("filing", "项目备案", "发展和改革局", "district", "easy", 1),
    ("land_pre_review", "用地预审与选址意见书", "规划和自然资源局", "provincial", "hard", 20),
    ("land_planning_permit", "建设用地规划许可证", "规划和自然资源局", "city", "easy", 10),
    ("engineering_planning_permit", "建设工程规划许可证", "规划和自然资源局", "city", "hard", 15),
    ("eia", "环境影响评价审批", "生态环境局", "city", "hard", 30),
    ("energy_review", "节能审查", "发展和改革局", "city", "easy", 10),
    ("soil_water", "水土保持方案审批", "水务局", "district", "easy", 10),
    ("fire_design", "消防设计审查", "住房和城乡建设局", "district", "easy", 10),
    ("construction_permit", "建筑工程施工许可证", "住房和城乡建设局", "district", "easy", 7),
    ("property_certificate", "不动产权证书", "不动产登记中心", "district", "easy", 5),
]
