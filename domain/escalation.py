"""Timed escalation: what happens when a rung of a clock's ladder comes due."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from pydantic import Field

from domain.access import ActorKind, OwnEscalation
from domain.calendars import BusinessCalendar
from domain.clocks import ClockState
from domain.frozen import evolve
from domain.messages import MessageContext, local_time
from domain.policy import EscalationStep, PolicySet, Role
from domain.privacy import disclose
from domain.process import (
    SYSTEM_ACTOR,
    UNRANKED,
    CaseSnapshot,
    Decision,
    EventData,
    InvalidEvent,
    Notice,
    TimelineEntry,
)


def resolve_role(case: CaseSnapshot, role: Role, policies: PolicySet) -> str | None:
    """The person who holds `role` for this case (None when nobody does)."""
    if role is Role.assignee:
        return case.assignee
    team = policies.teams.get(case.team)
    return getattr(team, role.value) if team else None


class AcknowledgeEscalationData(EventData):
    """acknowledge_escalation (every process's)."""

    clock: str | None = Field(default=None, description="the clock whose ladder ends")


def acknowledge_escalation_hook(case, event, policies, calendars, now):
    """End `data.clock`'s ladder: no further rungs (every process's `acknowledge_escalation`).

    Never by the case's assignee: the ladder reports their lapse to those above them.
    """
    name = event.data.get("clock")
    clock = case.clocks.get(name) if isinstance(name, str) else None
    if clock is None:
        raise InvalidEvent("data.clock", f"must be one of the clocks {sorted(case.clocks)}")
    if case.assignee is not None and event.actor == case.assignee:
        raise OwnEscalation(event.actor, name)
    if clock.steps_fired == 0:
        raise InvalidEvent("data.clock", f"the {name} clock has not escalated yet")
    stopped = evolve(clock, ladder_stopped_at=clock.ladder_stopped_at or now)
    return evolve(case, clocks={**case.clocks, name: stopped}), {}


def step_due(
    case: CaseSnapshot,
    *,
    clock_name: str,
    step_index: int,
    ladder: Sequence[EscalationStep],
    policies: PolicySet,
    calendars: Mapping[str, BusinessCalendar],
    timer_key: str,
    now: datetime,
    notify: bool = True,
) -> Decision | None:
    """Fire rung `step_index` of a clock's ladder, or return None if the timer is stale:
    the clock is not running, the rung is not the next one, or the clock, as it now
    stands, has not reached it (an event moved its deadline while the timer waited).
    `notify=False` leaves the notices out (a replay counts who is told, sends nothing):
    writing them is most of a rung's cost."""
    clock = case.clocks.get(clock_name)
    if clock is None or clock.state is not ClockState.running or not clock.escalating:
        return None
    if clock.steps_fired != step_index or step_index >= len(ladder):
        return None
    step = ladder[step_index]
    calendar = calendars[clock.calendar]
    if clock.used(calendar, now) < clock.target * (step.at_percent / 100):
        return None
    due_at = clock.due_at(calendar)
    breached_at = clock.breached_at
    if step.at_percent >= 100 and breached_at is None:
        breached_at = due_at
    recipients: dict[str, str] = {}
    for role in step.notify:
        person = resolve_role(case, role, policies)
        if person:
            recipients.setdefault(person, role.value)
    assignee = case.assignee
    if step.reassign_to is not None:
        assignee = resolve_role(case, step.reassign_to, policies) or assignee
    after = evolve(
        case,
        assignee=assignee,
        escalation_level=max(case.escalation_level, step.level),
        clocks={**case.clocks, clock_name: evolve(
            clock, steps_fired=step_index + 1, breached_at=breached_at)},
    )
    kind = "sla_warning" if step.level == 0 else "escalated"
    details = {
        "clock": clock_name,
        "step": step.name,
        "at_percent": step.at_percent,
        "level": step.level,
        "due_at": due_at.isoformat() if due_at else None,
        "notified": sorted(recipients),
    }
    if assignee != case.assignee:
        details["reassigned_from"], details["reassigned_to"] = case.assignee, assignee
    entry = TimelineEntry(type=kind, actor=SYSTEM_ACTOR, details=details,
                          actor_kind=ActorKind.system)
    if not notify:
        return Decision(before=case, after=after, timeline=(entry,))
    subject, body = escalation_text(case, after, clock_name=clock_name, ladder=ladder,
                                    step_index=step_index, due_at=due_at,
                                    calendar=calendar, policies=policies)
    notices = tuple(
        Notice(recipient=person, role=role, subject=subject, body=body,
               key=f"{timer_key}:{person}")
        for person, role in sorted(recipients.items())
    )
    return Decision(before=case, after=after, timeline=(entry,), notices=notices)


def escalation_text(case: CaseSnapshot, after: CaseSnapshot, *, clock_name: str,
                    ladder: Sequence[EscalationStep], step_index: int, due_at: datetime | None,
                    calendar: BusinessCalendar, policies: PolicySet) -> tuple[str, str]:
    """An escalation's subject and body, Simplified Chinese then English: the case, its
    due time in the team's zone to the minute, the rung and who is next, and its link.

    The text of a rung is the same for every case but a few values (the case's number,
    title, due time, assignee, customer and link): it is written once per rung, with
    markers for those, and remembered; each case fills the markers in (a storm writes
    thousands of rungs, and writing each text whole was a third of firing one).
    """
    m = policies.staff_messages(case.team)
    step = ladder[step_index]
    following = ladder[step_index + 1] if step_index + 1 < len(ladder) else None
    due = local_time(due_at, calendar.tz) if due_at else None
    key = (m.language, case.team, case.process, clock_name, case.clocks[clock_name].target,
           _rung_key(step), _rung_key(following), case.priority, case.stage,
           after.escalation_level, after.assignee is None, due is None, not case.subject,
           case.customer is None)
    remembered = _TEXTS.get(key)
    if remembered is None or remembered[0] is not policies:
        if len(_TEXTS) >= _TEXTS_KEPT:
            _TEXTS.clear()
        remembered = _TEXTS[key] = (policies, *_escalation_template(
            case, after, m=m, clock_name=clock_name, step=step, following=following,
            due=due, policies=policies))
    values: dict[str, str] = {
        "case": str(case.id), "title": case.subject or "", "due": due or "",
        "assignee": after.assignee or "", "link": m.case_link(case.process, case.id)}
    if case.customer is not None:
        values |= {f"customer-{language}": customer_line(case, policies, language).strip()
                   for language in m.staff_languages()}
    return (_MARKER.sub(lambda found: values[found[1]], remembered[1]),
            _MARKER.sub(lambda found: values[found[1]], remembered[2]))


# Rung texts by what they depend on, each with the policies it was written from (a reload
# writes them again); forgotten all at once past a bound no policy set comes near.
_TEXTS: dict[tuple[object, ...], tuple[PolicySet, str, str]] = {}
_TEXTS_KEPT = 4096
# Where a case's own value goes in a remembered text: NUL never occurs in a policy's text.
_MARKER = re.compile("\x00([^\x00]+)\x00")


def _mark(name: str) -> str:
    return f"\x00{name}\x00"


def _rung_key(step: EscalationStep | None) -> tuple[object, ...] | None:
    return None if step is None else (step.name, step.at_percent, step.level,
                                      tuple(step.notify), step.reassign_to)


def _escalation_template(case: CaseSnapshot, after: CaseSnapshot, *, m: MessageContext,
                         clock_name: str, step: EscalationStep,
                         following: EscalationStep | None, due: str | None,
                         policies: PolicySet) -> tuple[str, str]:
    """A rung's subject and body, with markers for the case's own values."""
    clock = case.clocks[clock_name]

    def ranking(language: str, msgid: str) -> str:
        # A process without priorities (a cycle, a follow-up) shows none rather than its
        # placeholder: "(normal)" reads as a priority someone chose.
        return "" if case.priority == UNRANKED else m.text(
            language, msgid, priority=m.name(language, "priority", case.priority))

    def names(language: str) -> dict[str, object]:
        return {
            "process": m.name(language, "process", case.process), "case": _mark("case"),
            "title": _mark("title") if case.subject else m.name(language, "stage", case.stage),
            "rung": m.name(language, "rung", step.name),
            "clock": m.name(language, "clock", clock_name), "percent": step.at_percent,
            "due": _mark("due") if due else m.text(language, "not set"),
            "ranking": ranking(language, " ({priority})"),
        }

    def subject(language: str) -> str:
        return m.text(language, "[{process} #{case}] {rung}: {clock} at {percent}%, due {due}"
                      "{ranking}: {title}", **names(language))

    def body(language: str) -> str:
        n = names(language) | {"ranking": ranking(language, "; priority {priority}")}
        lines = [
            m.text(language, "{process} #{case}: {title}", **n),
            m.text(language, "The {clock} clock reached {percent}% of its target ({target}); "
                   "due {due}.", target=m.duration(language, clock.target), **n),
            m.text(language, "Rung: {rung}, escalation level {level}{ranking}; stage {stage}; "
                   "assignee {assignee}.",
                   level=after.escalation_level, stage=m.name(language, "stage", case.stage),
                   assignee=_mark("assignee") if after.assignee else m.text(language, "none"),
                   **n),
        ]
        if following is None:
            lines.append(m.text(language, "This is the last rung."))
        else:
            who = m.text(language, ", ").join(m.name(language, "role", r.value)
                                              for r in following.notify)
            lines.append(m.text(language, "Next: {rung} at {percent}% tells {who}.",
                                rung=m.name(language, "rung", following.name),
                                percent=following.at_percent, who=who))
        if case.customer is not None:
            lines.append(_mark(f"customer-{language}"))
        lines.append(m.text(language, "Open the case: {link}", link=_mark("link")))
        return "\n".join(line for line in lines if line)

    return m.staff_subject(subject), m.staff(body)


def customer_line(case: CaseSnapshot, policies: PolicySet, language: str | None = None) -> str:
    """The customer's name and contact details, as the privacy policy lets staff see them
    (in `language`; in both, Simplified Chinese first, when not given)."""
    if case.customer is None:
        return ""
    m = policies.staff_messages(case.team)
    if language is None:
        return "\n" + m.staff(lambda each: customer_line(case, policies, each).strip(), "\n")
    how = policies.privacy.notifications
    parts = [m.text(language, "tier {tier}", tier=case.tier.value)] if case.tier else []
    for label, kind, value in (("phone", "phone", case.customer.phone),
                               ("e-mail", "email", case.customer.email)):
        shown = disclose(value, kind, how)
        if shown:
            parts.append(f"{m.text(language, label)} {shown}")
    return "\n" + m.text(language, "Customer: {name} ({details}).",
                         name=case.customer.name or m.text(language, "unnamed"),
                         details=m.text(language, ", ").join(parts))
