"""Who hears what during a crisis: the candidate's triage, a confirmation, a notice to
approve, a publication on its channel, and each status update on the internal channel.

Every message has a key that makes its delivery idempotent (`crisis:<id>:...`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

from domain.crisis import notices
from domain.crisis.policy import CrisisPolicy
from domain.escalation import resolve_role
from domain.messages import local_time
from domain.policy import PolicySet
from domain.process import CaseSnapshot, Decision, Event, Notice

# Whom the news of an event goes to, as roles of the crisis's team.
LINE = {"confirm": ("supervisor", "manager", "director"), "draft_notice": ("manager",)}


def _policy(policies: PolicySet) -> CrisisPolicy:
    return policies.process_policy("crisis", CrisisPolicy)


def candidate(case: CaseSnapshot, spike: Mapping[str, Any],
              policies: PolicySet) -> tuple[Notice, ...]:
    """A detected candidate: the people the spike policy names, asked to triage it."""
    policy, m = _policy(policies), policies.staff_messages(case.team)

    def values(language: str) -> dict[str, object]:
        return {"case": case.id, "count": spike["count"], "window": spike["window"],
                "category": m.name(language, "category", case.category),
                "since": spike["since"], "within": m.duration(language, policy.triage_within)}

    subject = m.staff_subject(lambda language: m.text(
        language, "[crisis #{case}] candidate: {count} {category} complaints within {window}",
        **values(language)))
    body = m.staff(lambda language: m.text(
        language, "A spike of {count} complaints in category {category} since {since} raised "
        "crisis candidate #{case}. Confirm it with a likelihood and impact, or dismiss it with "
        "a reason, within {within}.", **values(language)) + "\n" + m.text(
        language, "Open the case: {link}", link=m.case_link(case.process, case.id)))
    people = {p: role.value for role in reversed(policy.spike.notify)
              if (p := resolve_role(case, role, policies))}
    return tuple(Notice(recipient=p, role=r, subject=subject, body=body,
                        key=f"crisis:{case.id}:candidate:{p}")
                 for p, r in sorted(people.items()))


def of_event(decision: Decision, event: Event, policies: PolicySet,
             zone: tzinfo) -> tuple[Notice, ...]:
    """What an event sends: a publication, an update on the internal channel, the news of
    a confirmation and of a notice to approve."""
    after, entry = decision.after, decision.timeline[0]
    kind, case_id = event.type, after.id
    if kind == "publish_notice":
        notice = after.data["notices"][entry.details["notice"] - 1]
        return (notices.publication(after, notice),)
    if kind == "post_update" and "internal" in _policy(policies).channels:
        seq = after.data["update_seq"] - 1
        text = after.data["last_update"]["summary"]
        return (Notice(recipient=notices.CHANNEL_RECIPIENT.format(channel="internal"),
                       role="channel", subject=f"[{after.data['severity']}] crisis "
                       f"#{case_id} update {seq}: {after.data['title']}"[:200], body=text,
                       key=f"crisis:{case_id}:update:{seq}"),)
    roles = LINE.get(kind)
    team = policies.teams.get(after.team)
    if not roles or team is None:
        return ()
    people = sorted({getattr(team, role) for role in roles})
    m = policies.staff_messages(after.team)
    link = m.case_link(after.process, case_id)
    if kind == "confirm":
        def due(language: str) -> str:
            return m.text(language, ", ").join(
                m.text(language, "{clock} by {due}", clock=m.name(language, "clock", k),
                       due=local_time(datetime.fromisoformat(v), zone))
                for k, v in entry.details["due"].items())
        values = {"severity": after.data["severity"], "case": case_id,
                  "title": after.data["title"]}
        subject = m.staff_subject(lambda language: m.text(
            language, "[{severity}] crisis #{case} confirmed: {title}", **values))
        body = m.staff(lambda language: m.text(
            language, "Crisis #{case} is {severity}. Due: {due}.", due=due(language),
            **values) + "\n" + m.text(language, "Open the case: {link}", link=link))
    else:
        subject = m.staff_subject(lambda language: m.text(
            language, "[crisis #{case}] notice {notice} awaits approval", case=case_id,
            notice=entry.details["notice"]))
        body = m.staff(lambda language: m.text(
            language, "A {channel} notice of crisis #{case} awaits approval.", case=case_id,
            channel=m.name(language, "channel", entry.details["channel"])) + "\n" + m.text(
            language, "Open the case: {link}", link=link))
    return tuple(Notice(recipient=p, role="lead", subject=subject[:200], body=body,
                        key=f"crisis:{case_id}:{kind}:{entry.details.get('notice', 0)}:{p}")
                 for p in people)
