"""Assignment: pick a team member by the team's strategy; who a case may be given to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from domain.policy import PolicySet

_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class MemberLoad:
    """A team member's open cases and when they were last given one."""

    person: str
    open_cases: int
    last_assigned_at: datetime | None


def pick_assignee(members: list[MemberLoad], strategy: str, *, avoid: str | None = None,
                  supervisor: str | None = None) -> str:
    """Pick who gets the next case: fewest open cases, or longest since the last one.

    `avoid` (the agent a service-recovery case is about) is passed over: the case goes to
    another member, else to `supervisor`, and to `avoid` only when nobody else is there.
    """
    if avoid is not None:
        others = [member for member in members if member.person != avoid]
        if not others and supervisor:
            return supervisor
        members = others or members
    if not members:
        raise ValueError("a team needs at least one member to route to")

    def waited(member: MemberLoad) -> datetime:
        # Members never assigned sort first; the others by instant, whatever their zone.
        moment = member.last_assigned_at
        return moment.astimezone(UTC) if moment else _NEVER

    if strategy == "least_loaded":
        chosen = min(members, key=lambda m: (m.open_cases, waited(m), m.person))
    elif strategy == "round_robin":
        chosen = min(members, key=lambda m: (waited(m), m.person))
    else:
        raise ValueError(f"unknown routing strategy {strategy!r}")
    return chosen.person


def assignable(team: str, policies: PolicySet) -> list[str]:
    """Who a case of `team` may be assigned to: its members, then the people above them
    (supervisor, manager, director: escalations may hand a case to any of them).

    A team the policies no longer name leaves its cases to anyone in any team.
    """
    teams = [policies.teams[team]] if team in policies.teams else list(policies.teams.values())
    people = [p for t in teams for p in (*t.members, t.supervisor, t.manager, t.director)]
    return list(dict.fromkeys(people))
