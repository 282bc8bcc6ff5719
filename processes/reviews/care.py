"""Care reviews: the quarterly skill-assessment reminder and customers' greetings.

Both only queue outbox rows (delivered by the sweeper with retries), keyed so that a
period never sends one twice. Greetings go to customers who consented and have an
e-mail address or a phone number (seed 001 §1.1.32); one message per customer per day.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, extract, or_
from sqlmodel import col, select

from domain.messages import HOLIDAY_LANGUAGE, MessageContext
from domain.reviews.wording import Counted, period, said
from engine.delivery import CUSTOMER_PREFIX
from engine.models import Customer, OutboxMessage
from processes.reviews.compute import ReviewContext, ReviewOutput

# 调休 make-up days are days off, not holidays to greet for; the holidays package names
# them so in en_US whatever language the greeting uses.
_DAY_OFF = "Day off"
SKILL_MODULES = "product knowledge, communication, conflict handling and service etiquette"


def _message(ctx: ReviewContext, key: str, recipient: str, role: str, subject: str,
             body: str) -> OutboxMessage:
    return OutboxMessage(key=key, recipient=recipient, role=role, subject=subject, body=body,
                         status="pending", created_at=ctx.now, next_attempt_at=ctx.now)


def skill_assessment_reminder(ctx: ReviewContext) -> ReviewOutput:
    """Remind each team's supervisor of the quarter's staff skill assessment (seed 002 §4.2)."""
    out = ReviewOutput()
    start = ctx.period.start.astimezone(ctx.zone)
    quarter = f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    rows: list[dict[str, Any]] = []
    for team in ctx.teams():
        policy = ctx.policies.teams[team]
        row = {"team": team, "supervisor": policy.supervisor, "members": list(policy.members)}
        rows.append(row)
        out.messages.append(_message(
            ctx, f"review:{ctx.name}:{quarter}:{team}", policy.supervisor, "supervisor",
            *_skill_reminder(ctx.policies.staff_messages(team), team, quarter,
                             policy.members)))
        out.teams[team] = {"summary": [said(ctx.team_messages(team),
                                            "Reminder sent to {supervisor} for {quarter}.",
                                            supervisor=policy.supervisor, quarter=quarter)],
                           "tables": {"reminders": [row]}}
    out.tables["reminders"] = rows
    out.summary.append(said(ctx.messages, "Skill-assessment reminders for {quarter} queued to "
                            "the supervisors of {teams}.", quarter=quarter,
                            teams=Counted(len(rows), "{n} team", "{n} teams")))
    return out


def _skill_reminder(m: MessageContext, team: str, quarter: str,
                    members: list[str]) -> tuple[str, str]:
    """The reminder's subject and body, in both languages."""
    subject = m.staff_subject(lambda language: m.text(
        language, "Staff skill assessment due for team {team} ({quarter})", team=team,
        quarter=quarter))
    body = m.staff(lambda language: m.text(
        language, "This quarter's skill assessment (seed 002 §4.2) is due for team {team}: "
        "{members}. Assess {modules}, and feed the results back to each member.", team=team,
        members=m.text(language, ", ").join(members), modules=m.text(language, SKILL_MODULES)))
    return subject, body


@lru_cache(maxsize=32)
def _holidays(country: str, year: int, language: str) -> dict[date, str]:
    import holidays

    named = holidays.country_holidays(country, years=year, language=language, observed=False)
    return dict(named.items())


def holiday_starting(day: date, country: str | None, language: str) -> str | None:
    """Name the public holiday whose first day is `day` (a make-up day off is none)."""
    if not country:
        return None
    english = _holidays(country, day.year, "en_US")
    name = english.get(day)
    if name is None or name.startswith(_DAY_OFF):
        return None
    if english.get(day - timedelta(days=1)) == name:
        return None  # the second day of a holiday, greeted already
    return _holidays(country, day.year, language).get(day, name)


def _birthday_on(day: date) -> Any:
    month, dom = extract("month", col(Customer.birthday)), extract("day", col(Customer.birthday))
    condition = and_(month == day.month, dom == day.day)
    if (day.month, day.day) == (2, 28) and not _leap(day.year):
        condition = or_(condition, and_(month == 2, dom == 29))  # 29 Feb, in other years
    return condition


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def greetings(ctx: ReviewContext) -> ReviewOutput:
    """Queue the day's birthday and holiday greetings for consenting, reachable customers."""
    policy, m = ctx.policies.greetings, ctx.policies.messages
    day = ctx.period.start.astimezone(ctx.zone).date()

    def holiday_in(language: str) -> str | None:
        return holiday_starting(day, policy.holidays,
                                policy.holiday_language or HOLIDAY_LANGUAGE[language])

    holiday = holiday_in(m.language)
    consenting = [col(Customer.greetings_consent).is_(True)]
    query = select(Customer).where(*consenting, col(Customer.birthday).is_not(None),
                                   _birthday_on(day))
    if holiday:
        query = select(Customer).where(*consenting)
    sent = {"birthday": 0, "holiday": 0, "skipped_without_contact": 0}
    out = ReviewOutput()
    for customer in ctx.session.exec(query.order_by(col(Customer.id))):
        birthday = customer.birthday is not None and _birthday_on_python(customer.birthday, day)
        if not (birthday or holiday):
            continue
        if not (customer.email or customer.phone):
            sent["skipped_without_contact"] += 1
            continue
        parts = []
        language = customer.language or m.language
        values = {"name": customer.name or m.for_customers("customer", language=language),
                  "holiday": (holiday_in(language) if holiday else None) or ""}
        if birthday:
            parts.append(policy.birthday)
            sent["birthday"] += 1
        if holiday:
            parts.append(policy.holiday)
            sent["holiday"] += 1
        out.messages.append(_message(
            ctx, f"greeting:{day.isoformat()}:{customer.id}", f"{CUSTOMER_PREFIX}{customer.id}",
            "customer",
            " / ".join(m.for_customers(p.subject, language=language, **values) for p in parts),
            "\n\n".join(m.for_customers(p.body, language=language, **values) for p in parts)))
    counts = {"date": day.isoformat(), "holiday_name": holiday, **sent}
    out.tables["greetings"] = [counts]
    out.extra["greetings"] = counts
    without = Counted(sent["skipped_without_contact"], "{n} consenting customer has",
                      "{n} consenting customers have")
    birthdays = Counted(sent["birthday"], "{n} birthday greeting", "{n} birthday greetings")
    holidays = Counted(sent["holiday"], "{n} holiday greeting", "{n} holiday greetings")

    def summary(language: str) -> str:
        figures = {"day": period(language, ctx.period.start.astimezone(ctx.zone),
                                 ctx.period.end.astimezone(ctx.zone)),
                   "birthday": birthdays.said(m, language), "without": without.said(m, language)}
        if holiday:
            return m.text(
                language,
                "{day}: {birthday} and {holiday} queued for {name}; {without} no contact.",
                holiday=holidays.said(m, language), name=holiday_in(language) or holiday,
                **figures)
        return m.text(language, "{day}: {birthday} queued; {without} no contact.", **figures)

    out.summary.append(m.staff(summary, "\n"))
    return out


def _birthday_on_python(birthday: date, day: date) -> bool:
    if (birthday.month, birthday.day) == (day.month, day.day):
        return True
    return (birthday.month, birthday.day, day.month, day.day) == (2, 29, 2, 28) and \
        not _leap(day.year)
