"""The project lifecycle (docs/architecture.md) as a guarded state machine."""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    NEGOTIATING = "negotiating"  # 招商洽谈
    SIGNED = "signed"  # 签约
    PREPARING = "preparing"  # 前期
    NEW_START = "new_start"  # 新开工
    CONTINUING = "continuing"  # 续建
    COMPLETED = "completed"  # 竣工
    OPERATING = "operating"  # 投产
    SUSPENDED = "suspended"  # 停缓建
    TERMINATED = "terminated"  # 终止

    @property
    def name_zh(self) -> str:
        return NAMES_ZH[self]


NAMES_ZH = {
    Stage.NEGOTIATING: "招商洽谈",
    Stage.SIGNED: "签约",
    Stage.PREPARING: "前期",
    Stage.NEW_START: "新开工",
    Stage.CONTINUING: "续建",
    Stage.COMPLETED: "竣工",
    Stage.OPERATING: "投产",
    Stage.SUSPENDED: "停缓建",
    Stage.TERMINATED: "终止",
}

# Forward moves; any stage before operation may also be suspended or terminated.
FORWARD: dict[Stage, set[Stage]] = {
    Stage.NEGOTIATING: {Stage.SIGNED},
    Stage.SIGNED: {Stage.PREPARING},
    Stage.PREPARING: {Stage.NEW_START},
    Stage.NEW_START: {Stage.CONTINUING, Stage.COMPLETED},
    Stage.CONTINUING: {Stage.COMPLETED},
    Stage.COMPLETED: {Stage.OPERATING},
    Stage.OPERATING: set(),
    Stage.TERMINATED: set(),
}
SUSPENDABLE = {Stage.SIGNED, Stage.PREPARING, Stage.NEW_START, Stage.CONTINUING}
TERMINABLE = {
    Stage.NEGOTIATING,
    Stage.SIGNED,
    Stage.PREPARING,
    Stage.NEW_START,
    Stage.CONTINUING,
    Stage.SUSPENDED,
}


def allowed_targets(current: Stage, *, before_suspension: Stage | None = None) -> set[Stage]:
    """Where a project in ``current`` may go next. A suspended project resumes where it stopped."""
    if current is Stage.SUSPENDED:
        targets = {before_suspension} if before_suspension else set()
    else:
        targets = set(FORWARD[current])
        if current in SUSPENDABLE:
            targets.add(Stage.SUSPENDED)
    if current in TERMINABLE:
        targets.add(Stage.TERMINATED)
    return targets
