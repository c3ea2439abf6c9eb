"""The shipped template set: zh-CN (default) and en. Keys are short event types; ``default`` is
the fallback for events without their own template, ``digest`` renders the daily digest.

Templates see: ``data`` (the event body; unknown fields are fine, missing ones render empty),
``event`` (the CloudEvent), ``type``, ``tenant``, ``project`` (id, code, name, tier, key_level,
stage — when the event names one), ``recipient`` (name, role), ``severity``, ``link``; filter
``localtime`` formats a timestamp in the service's time zone."""

from __future__ import annotations

from dataclasses import dataclass

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"


@dataclass(frozen=True)
class Template:
    subject: str
    body: str
    html: str | None = None


_P = "{% if project.name %}【{{ project.name }}】{% endif %}"
_PE = "{% if project.name %}[{{ project.name }}] {% endif %}"
_M = "{{ data.title or data.summary or data.number or data.matter_id }}"
_DL = (
    "{% if data.deadline or data.due_at %}，期限 {{ (data.deadline or data.due_at) | localtime }}{% endif %}"
)
_DLE = (
    "{% if data.deadline or data.due_at %}, due {{ (data.deadline or data.due_at) | localtime }}{% endif %}"
)

ZH: dict[str, Template] = {
    "default": Template(
        "{{ title_zh }}", _P + "{{ summary }}\n事件：{{ type }}（{{ event.time | localtime }}）"
    ),
    "digest": Template(
        "项目管家每日汇总：{{ items | length }} 条待办",
        "{{ recipient.name }}，您好：\n{% for item in items %}{{ loop.index }}. {{ item.title }}\n{% endfor %}",
    ),
    "project.registered": Template(
        _P + "新项目登记",
        "项目 {{ data.name }}（{{ data.code }}）已登记，总投资 {{ data.total_investment }} 元，调度层级 {{ data.tier }}。",
    ),
    "project.stage_changed": Template(
        _P + "项目阶段变更",
        "项目 {{ data.code }} 由「{{ data.from_stage }}」进入「{{ data.to_stage }}」。原因：{{ data.reason }}",
    ),
    "roster.assigned": Template(_P + "责任分工", "您已被确定为项目 {{ data.code }} 的 {{ data.role_key }}。"),
    "roster.role_missing": Template(
        _P + "责任人缺失",
        "项目 {{ data.code }} 缺少以下责任角色：{{ data.missing_roles | join('、') }}，请尽快明确。",
    ),
    "rules.updated": Template(
        "规则已更新",
        "本级规则已更新为第 {{ data.version }} 版，生效时间 {{ data.effective_from | localtime }}。",
    ),
    "matter.filed": Template(_P + "新问题受理：" + _M, "问题 " + _M + " 已提交，请及时分办。"),
    "matter.assigned": Template(_P + "问题交办：" + _M, "问题 " + _M + " 已交由贵单位办理" + _DL + "。"),
    "matter.reminder_due": Template(
        _P + "催办提醒：" + _M, "问题 " + _M + " 即将到期" + _DL + "，请抓紧办理并反馈。"
    ),
    "matter.overdue": Template(
        _P + "【逾期】" + _M,
        "问题 " + _M + " 已超过办理期限" + _DL + "，请立即办理并说明原因。逾期事项将按规定升级督办。",
    ),
    "matter.escalated": Template(
        _P + "【升级督办】" + _M,
        "问题 " + _M + " 逾期未办结，已升级至 {{ data.to_tier or data.tier }} 层级督办。",
    ),
    "matter.resolved": Template(_P + "问题已办结：" + _M, "问题 " + _M + " 已办结，请确认并评价。"),
    "matter.reopened": Template(_P + "问题重新办理：" + _M, "问题 " + _M + " 已退回重新办理。"),
    "matter.closed": Template(_P + "问题已关闭：" + _M, "问题 " + _M + " 已关闭。"),
    "procedure.notice_issued": Template(
        _P + "一次性告知",
        "办理事项 {{ data.procedure or data.title }} 材料需补正：{{ data.corrections | join('；') if data.corrections else '' }}",
    ),
    "meeting.scheduled": Template(
        "会议通知：{{ data.title }}",
        "{{ data.title }} 定于 {{ data.starts_at | localtime }} 召开，地点：{{ data.location }}。",
    ),
}

EN: dict[str, Template] = {
    "default": Template(
        "{{ title_en }}", _PE + "{{ summary }}\nEvent: {{ type }} ({{ event.time | localtime }})"
    ),
    "digest": Template(
        "Steward daily digest: {{ items | length }} item(s)",
        "Hello {{ recipient.name }},\n{% for item in items %}{{ loop.index }}. {{ item.title }}\n{% endfor %}",
    ),
    "project.registered": Template(
        _PE + "Project registered",
        "Project {{ data.name }} ({{ data.code }}) registered, total investment {{ data.total_investment }} yuan, dispatch tier {{ data.tier }}.",
    ),
    "project.stage_changed": Template(
        _PE + "Stage changed",
        "Project {{ data.code }} moved from {{ data.from_stage }} to {{ data.to_stage }}. Reason: {{ data.reason }}",
    ),
    "roster.assigned": Template(
        _PE + "Roster assignment", "You were named {{ data.role_key }} of project {{ data.code }}."
    ),
    "roster.role_missing": Template(
        _PE + "Roster incomplete", "Project {{ data.code }} lacks: {{ data.missing_roles | join(', ') }}."
    ),
    "rules.updated": Template(
        "Rules updated", "Rules version {{ data.version }} effective {{ data.effective_from | localtime }}."
    ),
    "matter.assigned": Template(
        _PE + "Matter assigned: " + _M, "Matter " + _M + " was assigned to your unit" + _DLE + "."
    ),
    "matter.reminder_due": Template(_PE + "Reminder: " + _M, "Matter " + _M + " is due soon" + _DLE + "."),
    "matter.overdue": Template(
        _PE + "[OVERDUE] " + _M,
        "Matter "
        + _M
        + " is past its deadline"
        + _DLE
        + ". Act now and explain the delay; it will be escalated.",
    ),
    "matter.escalated": Template(
        _PE + "[ESCALATED] " + _M, "Matter " + _M + " was escalated to {{ data.to_tier or data.tier }}."
    ),
    "matter.resolved": Template(
        _PE + "Matter resolved: " + _M, "Matter " + _M + " was resolved; please confirm and rate it."
    ),
}

DEFAULTS: dict[str, dict[str, Template]] = {"zh-CN": ZH, "en": EN}

# The HTML email layout; every value is autoescaped.
HTML_LAYOUT = """<!doctype html><html><body style="font-family:sans-serif">
<h3>{{ subject }}</h3>{% for line in body.splitlines() %}<p>{{ line }}</p>{% endfor %}
{% if link %}<p><a href="{{ link }}">{{ open_label }}</a></p>{% endif %}
<hr><small>{{ footer }}</small></body></html>"""
