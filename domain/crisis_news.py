"""Who hears what during a crisis: the candidate's triage, a confirmation, a notice to
approve, a publication on its channel, and each status update on the internal channel.

Every message has a key that makes its delivery idempotent (`crisis:<id>:...`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

from domain import crisis_notices as notices
from domain.crisis_policy import CrisisPolicy
from domain.durations import format_duration
from domain.escalation import resolve_role
from domain.policy import PolicySet
from domain.process import CaseSnapshot, Decision, Event, Notice

# Whom the news of an event goes to, as roles of the crisis's team.
LINE = {"confirm": ("supervisor", "manager", "director"), "draft_notice": ("manager",)}


def _policy(policies: PolicySet) -> CrisisPolicy:
    return policies.process_policy("crisis", CrisisPolicy)


def candidate(case: CaseSnapshot, spike: Mapping[str, Any],
              policies: PolicySet) -> tuple[Notice, ...]:
    """A detected candidate: the people the spike policy names, asked to triage it."""
    policy = _policy(policies)
    subject = (f"[crisis #{case.id}] candidate: {spike['count']} {case.category} complaints "
               f"within {spike['window']}")
    body = (f"A spike of {spike['count']} complaints in category {case.category} since "
            f"{spike['since']} raised crisis candidate #{case.id}. Confirm it with a "
            f"likelihood and impact, or dismiss it with a reason, within "
            f"{format_duration(policy.triage_within)}.")
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
    if kind == "confirm":
        due = ", ".join(f"{k} by {notices.local_time(datetime.fromisoformat(v), zone)}"
                        for k, v in entry.details["due"].items())
        subject = (f"[{after.data['severity']}] crisis #{case_id} confirmed: "
                   f"{after.data['title']}")
        body = f"Crisis #{case_id} is {after.data['severity']}. Due: {due}."
    else:
        subject = f"[crisis #{case_id}] notice {entry.details['notice']} awaits approval"
        body = f"A {entry.details['channel']} notice of crisis #{case_id} awaits approval."
    return tuple(Notice(recipient=p, role="lead", subject=subject[:200], body=body,
                        key=f"crisis:{case_id}:{kind}:{entry.details.get('notice', 0)}:{p}")
                 for p in people)
