"""Rendering: Jinja2 in a sandbox (tenant overrides are user input), text without escaping,
HTML with autoescape; per-tenant overrides resolved up the tenant ancestry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from jinja2 import ChainableUndefined, TemplateError, meta
from jinja2 import Template as JinjaTemplate
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.catalog import events_by_type
from steward.kit.errors import ValidationFailed
from steward.notify.templates.defaults import DEFAULT_LOCALE, DEFAULTS, HTML_LAYOUT, LOCALES, Template
from steward.notify.templates.models import TemplateOverride
from steward.notify.templates.sandbox import BoundedEnvironment, render_bounded

log = structlog.get_logger(__name__)

_TZ = ZoneInfo("Asia/Shanghai")


def _localtime(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.strftime(fmt)
        return value.astimezone(_TZ).strftime(fmt)
    return str(value)


def _env(autoescape: bool) -> BoundedEnvironment:
    env = BoundedEnvironment(undefined=ChainableUndefined, autoescape=autoescape, trim_blocks=False)
    env.filters["localtime"] = _localtime
    return env


TEXT_ENV = _env(False)
HTML_ENV = _env(True)
_LAYOUT = HTML_ENV.from_string(HTML_LAYOUT)


@lru_cache(maxsize=2048)
def _compiled(source: str, html: bool) -> JinjaTemplate:
    """Compiling is the expensive part of rendering: each distinct source compiles once."""
    return (HTML_ENV if html else TEXT_ENV).from_string(source)


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    html: str


def set_timezone(name: str) -> None:
    global _TZ
    _TZ = ZoneInfo(name)


def check_syntax(*sources: str | None) -> None:
    """422 with the template error when a template does not compile."""
    for src in sources:
        if src is None:
            continue
        try:
            TEXT_ENV.parse(src)
        except (TemplateError, RecursionError, MemoryError) as exc:
            raise ValidationFailed(f"template does not compile: {exc}", code="template_invalid") from exc


def normalise_locale(locale: str | None) -> str:
    if not locale:
        return DEFAULT_LOCALE
    if locale in LOCALES:
        return locale
    return "en" if locale.lower().startswith("en") else DEFAULT_LOCALE


def default_template(key: str, locale: str) -> Template | None:
    return DEFAULTS[normalise_locale(locale)].get(key)


async def resolve(session: AsyncSession, *, ancestry: list[str], key: str, locale: str) -> Template:
    """Order: the nearest tenant override of ``key`` (the tenant itself first, then up), the shipped
    ``key`` template, the nearest override of ``default``, the shipped ``default``."""
    locale = normalise_locale(locale)
    rows = []
    if ancestry:
        rows = list(
            (
                await session.exec(
                    select(TemplateOverride).where(
                        col(TemplateOverride.tenant).in_(ancestry),
                        col(TemplateOverride.key).in_({key, "default"}),
                        col(TemplateOverride.locale) == locale,
                    )
                )
            ).all()
        )
    return choose(rows, ancestry=ancestry, key=key, locale=locale)


def choose(overrides: list[TemplateOverride], *, ancestry: list[str], key: str, locale: str) -> Template:
    """:func:`resolve`'s choice among the overrides of the ancestry's tenants (others are ignored)."""
    locale = normalise_locale(locale)
    rows = [r for r in overrides if r.tenant in ancestry and r.key in (key, "default") and r.locale == locale]
    rows.sort(key=lambda r: -ancestry.index(r.tenant))
    for r in rows:
        if r.key == key:
            return Template(r.subject, r.body, r.html)
    shipped = default_template(key, locale)
    if shipped is not None:
        return shipped
    for r in rows:
        return Template(r.subject, r.body, r.html)
    return DEFAULTS[locale]["default"]


_SUMMARIES: dict[str, str] = {}


def _summary(ce_type: str) -> str:
    """The catalogue's summary of an event type (remembered: building the catalogue's index per
    event was a visible share of the fan-out's CPU)."""
    if ce_type not in _SUMMARIES:
        model = events_by_type().get(ce_type)
        if model is None:
            return ""  # not remembered: a type registered later is found then
        if len(_SUMMARIES) < 1024:
            _SUMMARIES[ce_type] = model.summary or ""
        return model.summary or ""
    return _SUMMARIES[ce_type]


def base_context(event: dict[str, Any], *, short_type: str) -> dict[str, Any]:
    summary = _summary(str(event.get("type", ""))) or short_type
    return {
        "event": event,
        "data": event.get("data") or {},
        "type": short_type,
        "tenant": event.get("tenant", ""),
        "summary": summary,
        "title_zh": TITLES_ZH.get(short_type, short_type),
        "title_en": short_type.replace(".", " ").replace("_", " ").capitalize(),
    }


def _run(source: str, context: dict[str, Any], *, html: bool) -> str:
    compiled = _compiled(source, html)
    return render_bounded(lambda: compiled.generate(context))


def render(template: Template, context: dict[str, Any], *, locale: str) -> Rendered:
    """A 422 ``template_render_failed`` for any failure of a (tenant-written) template: sandbox
    escapes, resource bounds (see :mod:`.sandbox`), and plain runtime errors such as ``1/0``."""
    try:
        subject = " ".join(_run(template.subject, context, html=False).split())
        body = _run(template.body, context, html=False).strip()
        if template.html:
            html = _run(template.html, context, html=True)
        else:
            en = normalise_locale(locale) == "en"
            html = _LAYOUT.render(
                subject=subject,
                body=body,
                link=context.get("link"),
                open_label="Open in Steward" if en else "在项目管家中查看",
                footer="Steward notification" if en else "项目管家 自动通知，请勿直接回复",
            )
    except Exception as exc:
        message = f"template failed to render: {type(exc).__name__}: {str(exc)[:300]}"
        raise ValidationFailed(message, code="template_render_failed") from exc
    return Rendered(subject=subject[:300], body=body, html=html)


@lru_cache(maxsize=2048)
def _names(source: str | None) -> frozenset[str]:
    if not source:
        return frozenset()
    try:
        return frozenset(meta.find_undeclared_variables(TEXT_ENV.parse(source)))
    except Exception:  # does not compile: assume it reads everything
        return frozenset({"recipient", "severity"})


def reads(template: Template, *, key: str, locale: str) -> frozenset[str]:
    """The context names a rendering of ``template`` (or of the shipped template it falls back to)
    may read: messages that differ only in names it does not read render the same."""
    shipped = default_template(key, locale) or DEFAULTS[normalise_locale(locale)]["default"]
    return frozenset().union(
        *(_names(src) for t in (template, shipped) for src in (t.subject, t.body, t.html))
    )


def render_or_shipped(template: Template, context: dict[str, Any], *, key: str, locale: str) -> Rendered:
    """Render a resolved (possibly tenant-written) template; when it fails, log and use the shipped
    template instead, so one broken override never blocks an event's notifications."""
    try:
        return render(template, context, locale=locale)
    except ValidationFailed as exc:
        shipped = default_template(key, locale) or DEFAULTS[normalise_locale(locale)]["default"]
        if shipped == template:
            raise
        log.warning("notify.template_failed", key=key, locale=locale, error=exc.message)
        return render(shipped, context, locale=locale)


TITLES_ZH: dict[str, str] = {
    "project.registered": "新项目登记",
    "project.updated": "项目信息变更",
    "project.stage_changed": "项目阶段变更",
    "roster.assigned": "责任分工",
    "roster.unassigned": "责任分工解除",
    "roster.role_missing": "责任人缺失",
    "rules.updated": "规则已更新",
    "tenant.created": "新增辖区",
    "unit.created": "新增单位",
    "matter.filed": "问题已提交",
    "matter.accepted": "问题已受理",
    "matter.assigned": "问题交办",
    "matter.reminder_due": "催办提醒",
    "matter.overdue": "事项逾期",
    "matter.escalated": "升级督办",
    "matter.resolved": "问题已办结",
    "matter.confirmed": "办结已确认",
    "matter.reopened": "问题重新办理",
    "matter.closed": "问题已关闭",
    "matter.rated": "服务评价",
    "meeting.scheduled": "会议通知",
    "meeting.notice": "会议通知",
    "meeting.rescheduled": "会议改期",
    "meeting.cancelled": "会议取消",
    "agenda.deadline_due": "议题申报截止提醒",
    "agenda.deadline_reminder": "议题申报截止提醒",
    "agenda.deferred": "议题顺延至下次会议",
    "decision.recorded": "会议督办事项",
    "minutes.issued": "会议纪要下发",
    "minutes.overdue": "会议纪要逾期未下发",
    "ranking.published": "排名发布",
    "consequence.triggered": "考评结果处理",
    "survey.sent": "满意度测评邀请",
    "survey.answered": "满意度测评结果",
    "rectification.opened": "整改通知",
    "rectification.overdue": "整改逾期",
    "rectification.closed": "整改完成",
    "project.light_changed": "项目预警灯变化",
    "circular.issued": "情况通报",
    "agent_report.overdue": "代办员周报逾期",
}
