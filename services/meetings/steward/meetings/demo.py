"""Demo data: the weekly meeting series of 铁西区 (210106, the district on Anyang's 周例会制度 rules
in the registry's demo) with a held meeting (attendance, signed topics, statements, decisions filed
in the issues service by the running service's timer, issued and partly acknowledged minutes), the
next meeting with a signed topic, an unsigned one and a late topic deferred to the week after, and
the meetings generated ahead. Run after the registry's and issues' seeds while the services run;
idempotent (does nothing once the series has a held meeting)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlmodel import col, select

from steward.kit.auth import Principal, Role
from steward.kit.clients.registry import RegistryClient
from steward.kit.db import Database, utcnow
from steward.meetings.agenda import compile as compiler
from steward.meetings.agenda import service as agenda
from steward.meetings.agenda.schemas import SignIn, TopicCreate
from steward.meetings.decisions import service as decisions
from steward.meetings.decisions.schemas import DecisionCreate, StatementCreate
from steward.meetings.meetings import attendance
from steward.meetings.meetings.models import Meeting
from steward.meetings.meetings.schemas import AttendanceBatch, AttendanceIn, Participant
from steward.meetings.minutes import service as minutes
from steward.meetings.minutes.schemas import MinutesDraft
from steward.meetings.series import schedule
from steward.meetings.series import service as series
from steward.meetings.series.schemas import SeriesUpdate
from steward.meetings.settings import MeetingsSettings

TENANT = "210106"
ORG = Principal(subject="demo-zhongdianban", tenant=TENANT, roles=frozenset({Role.DISPATCHER}))
CHAIR = Principal(subject="demo-chief", tenant=TENANT, roles=frozenset({Role.LEADER}))
HEAD = Principal(subject="demo-hq-head", tenant=TENANT, roles=frozenset({Role.LEADER}), unit="demo-hq")
LEADER = Principal(subject="demo-county-leader", tenant=TENANT, roles=frozenset({Role.LEADER}), unit="gov")
CLERK = Principal(subject="demo-hq-clerk", tenant=TENANT, roles=frozenset({Role.SPECIALIST}), unit="demo-hq")
PEOPLE = [
    ("demo-chief", "赵主任", "管委会", "present"),
    ("demo-county-leader", "李副县长", "县政府", "present"),
    ("demo-hq-head", "王指挥长", "装备制造产业园指挥部", "present"),
    ("demo-nr", "钱局长", "自然资源局", "deputy"),
    ("demo-hb", "孙局长", "生态环境局", "leave"),
    ("demo-zj", "吴局长", "住房和城乡建设局", "absent"),
    ("demo-agent", "代办员周", "发改局重点项目办", "present"),
]


def _topic(meeting: Meeting, title: str, problem: str) -> TopicCreate:
    return TopicCreate(
        meeting_id=meeting.id,
        title=title,
        problem=problem,
        request="提请周例会协调",
        unit_id="demo-hq",
        unit_name="装备制造产业园指挥部",
        departments=["自然资源局", "生态环境局", "住房和城乡建设局"],
    )


async def _signed(session, meeting: Meeting, title: str, problem: str, now, *, both: bool = True):  # type: ignore[no-untyped-def]
    t = await agenda.submit(
        session, principal=CLERK, m=meeting, data=_topic(meeting, title, problem), project_name=None, now=now
    )
    await agenda.sign(session, principal=HEAD, t=t, data=SignIn(role="unit_head", name="王指挥长"), now=now)
    if both:
        await agenda.sign(
            session, principal=LEADER, t=t, data=SignIn(role="leader_in_charge", name="李副县长"), now=now
        )
    return t


async def seed_demo(settings: MeetingsSettings, tenant: str = TENANT, *, at: datetime | None = None) -> str:
    """Seed ``tenant``'s series as of ``at`` (default: now)."""
    now = at or utcnow()
    db = Database(settings.database_url)
    registry = RegistryClient(settings)
    try:
        codes = await registry.ancestry_codes(tenant)
        rules = await registry.rules(tenant)
        spec = next(iter(rules.meetings.series))
        today = schedule.local_date(now)
        last = today - timedelta(days=(today.weekday() - spec.weekday) % 7 or 7)  # the last meeting day
        start = schedule.local(last - timedelta(days=1), time(10))  # generated the day before it
        async with db.transaction() as session:
            rows = await series.sync(
                session, actor=ORG.subject, tenant=tenant, path="/".join(codes), rules=rules, now=start
            )
            s = rows[0]
            held = (
                await session.exec(select(Meeting).where(Meeting.series_id == s.id, Meeting.status == "held"))
            ).first()
            if held is not None:
                return "meetings demo data present already"
            participants = [Participant(subject=p, name=n, unit_name=u) for p, n, u, _ in PEOPLE]
            await series.update(
                session,
                principal=ORG,
                s=s,
                now=start,
                data=SeriesUpdate(
                    location="示范区管委会三楼会议室",
                    chair_subject=CHAIR.subject,
                    chair_name="赵主任",
                    participants=participants,
                ),
            )
            await series.generate(session, s=s, now=start, weeks=4)
        async with db.transaction() as session:
            upcoming = list(
                (
                    await session.exec(
                        select(Meeting)
                        .where(Meeting.series_id == s.id, Meeting.status == "scheduled")
                        .order_by(col(Meeting.starts_at))
                    )
                ).all()  # type: ignore[arg-type]
            )
            past = [m for m in upcoming if m.starts_at < now]
            future = [m for m in upcoming if m.starts_at > now]
            if not past or not future:  # the last meeting day was a public holiday (skipped)
                return "meetings demo: series generated; no past meeting to hold (holiday)"
            first, second = past[-1], future[0]
            assert first.agenda_deadline_at is not None
            before = first.agenda_deadline_at - timedelta(days=1)
            t1 = await _signed(
                session, first, "装备制造产业园10千伏供电线路接入", "线路迁改涉及林地，供电方案未批复", before
            )
            t2 = await _signed(
                session, first, "新能源零部件项目用地预审", "用地预审材料补正后仍未出具意见", before
            )
            await compiler.compile_agenda(
                session, principal=ORG, m=first, sup=compiler.Supervision(), now=before
            )
            held_at = first.starts_at + timedelta(hours=2)
            await attendance.record(
                session,
                principal=ORG,
                m=first,
                now=held_at,
                data=AttendanceBatch(
                    items=[
                        AttendanceIn(
                            person=p,
                            name=n,
                            unit_name=u,
                            status=st,  # type: ignore[arg-type]
                            reason="赴省厅汇报" if st == "leave" else None,
                            deputy_name="周副局长" if st == "deputy" else None,
                        )
                        for p, n, u, st in PEOPLE
                    ]
                ),
            )
            await decisions.add_statement(
                session,
                principal=ORG,
                m=first,
                now=held_at,
                data=StatementCreate(
                    topic_id=t1.id, kind="statement", unit_name="自然资源局", text="本周内完成林地手续审核"
                ),
            )
            due_soon = (now + timedelta(days=3)).date()
            due_later = (now + timedelta(days=20)).date()
            for topic, text, unit, due in (
                (t1, "供电公司会同自然资源局完成线路迁改方案批复", "供电公司", due_soon),
                (t2, "自然资源局出具用地预审意见", "自然资源局", due_later),
                (None, "住建局牵头梳理园区施工用水接入", "住房和城乡建设局", None),
            ):
                await decisions.record(
                    session,
                    principal=ORG,
                    m=first,
                    now=held_at,
                    data=DecisionCreate(
                        topic_id=topic.id if topic else None,
                        text=text,
                        responsible_unit_name=unit,
                        due_date=due,
                    ),
                )
            await attendance.hold(session, principal=ORG, m=first, held_at=held_at, now=held_at)
            await minutes.draft(
                session,
                principal=ORG,
                m=first,
                now=held_at + timedelta(days=1),
                data=MinutesDraft(summary="各责任单位要倒排工期、挂图作战，督查室跟踪落实。"),
            )
            await minutes.sign(session, principal=CHAIR, m=first, now=held_at + timedelta(days=1, hours=1))
            await minutes.issue(session, principal=ORG, m=first, now=held_at + timedelta(days=1, hours=2))
            await minutes.acknowledge(
                session,
                principal=Principal(subject="demo-nr", tenant=tenant, roles=frozenset({Role.LEADER})),
                m=first,
                now=held_at + timedelta(days=2),
            )
            deadline = second.agenda_deadline_at or now
            on_time = min(now, deadline - timedelta(hours=1))
            await _signed(
                session, second, "铁西重装搬迁项目环评批复", "环评报告书技术评估意见未出具", on_time
            )
            await _signed(session, second, "华晨零部件项目施工许可", "图审合格书未出具", on_time, both=False)
            late_at = max(now, deadline + timedelta(minutes=5))
            if late_at <= second.starts_at:
                await agenda.submit(
                    session,
                    principal=CLERK,
                    m=second,
                    project_name=None,
                    now=late_at,
                    data=_topic(second, "商贸综合体地下管线迁改", "管线权属单位未明确迁改时间"),
                )
        return f"meetings demo: series {s.key} of {tenant}, held meeting {first.title}, 3 decisions, minutes issued"
    finally:
        await registry.close()
        await db.dispose()
