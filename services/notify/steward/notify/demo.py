"""Demo data consistent with the registry's demo (Shenyang 210100, 浑南区 210112, 铁西区 210106):
tenant template overrides and an example agency subscription that is DISABLED and points at a
reserved example domain — the demo never calls out of the machine."""

from __future__ import annotations

from sqlmodel import col, select

from steward.kit.db import Database, utcnow
from steward.notify.settings import NotifySettings
from steward.notify.subscriptions.models import AgencySubscription
from steward.notify.subscriptions.service import new_sealed_secret
from steward.notify.templates.models import TemplateOverride

CITY = "210100"
OVERRIDES = [
    (
        "210112",
        "matter.overdue",
        "zh-CN",
        "【浑南区重点项目办·逾期督办】{{ data.title or data.number }}",
        "{{ recipient.name }}同志：\n{% if project.name %}项目「{{ project.name }}」{% endif %}问题 {{ data.title or data.number }} "
        "已超过办理期限，请于今日内办理并向区重点项目办反馈。逾期事项将按《浑南区重大项目服务管理办法》升级督办。",
    ),
    (
        "210106",
        "matter.reminder_due",
        "zh-CN",
        "【铁西区五个一分包·催办】{{ data.title or data.number }}",
        "请代办员抓紧办理 {{ data.title or data.number }}{% if data.deadline %}（期限 {{ data.deadline | localtime }}）{% endif %}。",
    ),
]


async def seed_demo(settings: NotifySettings) -> dict[str, int]:
    db = Database(settings.database_url)
    created = {"templates": 0, "subscriptions": 0}
    try:
        async with db.transaction() as session:
            for tenant, key, locale, subject, body in OVERRIDES:
                exists = (
                    await session.exec(
                        select(TemplateOverride).where(
                            col(TemplateOverride.tenant) == tenant,
                            col(TemplateOverride.key) == key,
                            col(TemplateOverride.locale) == locale,
                        )
                    )
                ).first()
                if exists is None:
                    session.add(
                        TemplateOverride(
                            tenant=tenant,
                            key=key,
                            locale=locale,
                            subject=subject,
                            body=body,
                            updated_by="demo-seed",
                        )
                    )
                    created["templates"] += 1
            name = "市统计局 重点项目事件订阅（示例，已停用）"
            exists_sub = (
                await session.exec(select(AgencySubscription).where(col(AgencySubscription.name) == name))
            ).first()
            if exists_sub is None:
                session.add(
                    AgencySubscription(
                        tenant=CITY,
                        owner_subject="agency-stats-210100",
                        name=name,
                        url="https://stats.example.invalid/steward/events",
                        secret=new_sealed_secret(),
                        event_types=["project.*", "matter.overdue", "matter.escalated"],
                        enabled=False,
                        created_at=utcnow(),
                        updated_at=utcnow(),
                    )
                )
                created["subscriptions"] += 1
    finally:
        await db.dispose()
    return created
