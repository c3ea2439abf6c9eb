"""Network-plan arithmetic on working days (pure; docs/reports.md "Node-plan templates").

Conventions: a node's start is a working day; its finish is the ``duration``-th working day counting
the start (a 0-day node is a point in time: finish = start); a node starts on the first working day
after the latest finish among the nodes it follows; a node that follows nothing starts on the plan's
start (or the next working day when that is a rest day).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from steward.kit.calendar import WorkingCalendar
from steward.rules.node_plans import topological_order


@dataclass(frozen=True)
class Node:
    key: str
    duration: int
    after: tuple[str, ...]


@dataclass(frozen=True)
class Dates:
    start: date
    finish: date


def finish_of(cal: WorkingCalendar, start: date, duration: int) -> date:
    return start if duration <= 0 else cal.add_working_days(start, duration - 1)


def earliest_start(cal: WorkingCalendar, plan_start: date, predecessor_finishes: Iterable[date]) -> date:
    finishes = list(predecessor_finishes)
    if not finishes:
        return cal.next_working_day(plan_start)
    return cal.next_working_day(max(finishes), inclusive=False)


def schedule(cal: WorkingCalendar, nodes: list[Node], plan_start: date) -> dict[str, Dates]:
    """Every node's planned start and finish, predecessors first."""
    by_key = {n.key: n for n in nodes}
    out: dict[str, Dates] = {}
    for key in topological_order({n.key: list(n.after) for n in nodes}):
        node = by_key[key]
        start = earliest_start(cal, plan_start, (out[p].finish for p in node.after))
        out[key] = Dates(start, finish_of(cal, start, node.duration))
    return out


def successors_of(nodes: list[Node], key: str) -> set[str]:
    """Every node that (transitively) follows ``key``."""
    children: dict[str, list[str]] = {n.key: [] for n in nodes}
    for n in nodes:
        for p in n.after:
            children.setdefault(p, []).append(n.key)
    seen: set[str] = set()
    stack = list(children.get(key, []))
    while stack:
        k = stack.pop()
        if k not in seen:
            seen.add(k)
            stack.extend(children.get(k, []))
    return seen


def push(
    cal: WorkingCalendar,
    nodes: list[Node],
    current: dict[str, Dates],
    *,
    delayed: str,
    new_finish: date,
    frozen: frozenset[str] = frozenset(),
) -> dict[str, Dates]:
    """The new dates of the nodes that move when ``delayed`` now finishes on ``new_finish``.

    Only ``delayed`` and its successors can move; a successor moves only when a predecessor's new
    finish no longer leaves it room (slack absorbs the delay); nodes already reached (``frozen``)
    keep their dates. Never pulls a node earlier."""
    dates = dict(current)
    moved: dict[str, Dates] = {}
    if new_finish != dates[delayed].finish:
        dates[delayed] = moved[delayed] = Dates(min(dates[delayed].start, new_finish), new_finish)
    affected = successors_of(nodes, delayed)
    by_key = {n.key: n for n in nodes}
    for key in topological_order({n.key: list(n.after) for n in nodes}):
        if key not in affected or key in frozen:
            continue
        node = by_key[key]
        need = earliest_start(cal, dates[key].start, (dates[p].finish for p in node.after if p in dates))
        if need > dates[key].start:
            dates[key] = moved[key] = Dates(need, finish_of(cal, need, node.duration))
    return moved


def topological_order_of(nodes: list[Node]) -> list[str]:
    return topological_order({n.key: list(n.after) for n in nodes})
