"""Who may do what: roles, identities, permissions and team scoping.

| role       | opens cases | reads and works cases            | other                   |
|------------|-------------|----------------------------------|-------------------------|
| agent      | yes         | own teams' cases, or assigned    |                         |
| supervisor | yes         | own teams' cases, every event    | PDCA, reports, backlog  |
| manager    | no          | every team: read, acknowledge    | PDCA, reports, backlog  |
| director   | no          | every team: read, acknowledge    | PDCA, reports, backlog  |
| admin      | no          | no                               | API keys, policy reload |
| scheduler  | no          | no                               | triggers reviews        |

Managers and directors are also the escalation targets; supervisors see their teams'
report sections only. Supervisors, managers and directors run crises (raise candidates,
link affected complaints); managers and directors approve crisis notices.

Which events each role may send is declared per process, on its transition table.
A case outside a caller's scope is reported as not found, so scope leaks nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class AccessRole(StrEnum):
    agent = "agent"
    supervisor = "supervisor"
    manager = "manager"
    director = "director"
    admin = "admin"
    scheduler = "scheduler"


class ActorKind(StrEnum):
    """Who did something on a timeline: a person, an integration, or the service itself."""

    person = "person"
    integration = "integration"
    system = "system"


class Permission(StrEnum):
    open_cases = "open_cases"
    read_cases = "read_cases"
    manage_keys = "manage_keys"
    reload_policies = "reload_policies"
    run_reviews = "run_reviews"
    improve = "improve"  # open PDCA improvement cycles
    read_reports = "read_reports"  # review results, trends and the improvement backlog
    manage_backlog = "manage_backlog"  # add and dismiss findings, promote them to cycles
    manage_crises = "manage_crises"  # raise crisis candidates, link affected complaints


ROLE_PERMISSIONS: dict[AccessRole, frozenset[Permission]] = {
    AccessRole.agent: frozenset({Permission.open_cases, Permission.read_cases}),
    AccessRole.supervisor: frozenset({Permission.open_cases, Permission.read_cases,
                                      Permission.improve, Permission.read_reports,
                                      Permission.manage_backlog, Permission.manage_crises}),
    AccessRole.manager: frozenset({Permission.read_cases, Permission.improve,
                                   Permission.read_reports, Permission.manage_backlog,
                                   Permission.manage_crises}),
    AccessRole.director: frozenset({Permission.read_cases, Permission.improve,
                                    Permission.read_reports, Permission.manage_backlog,
                                    Permission.manage_crises}),
    AccessRole.admin: frozenset({Permission.manage_keys, Permission.reload_policies}),
    AccessRole.scheduler: frozenset({Permission.run_reviews}),
}

# Roles whose view of cases is limited to their teams (and what is assigned to them).
TEAM_SCOPED = frozenset({AccessRole.agent, AccessRole.supervisor})

# The usual sets of roles that may send a process event.
WORKERS = frozenset({AccessRole.agent, AccessRole.supervisor})
SUPERVISORS = frozenset({AccessRole.supervisor})
ESCALATION_TARGETS = WORKERS | {AccessRole.manager, AccessRole.director}
# Who may end a clock's escalation ladder (`acknowledge_escalation`): those the ladder
# escalates to, never an agent, whose lapse it reports (nor the case's assignee, whatever
# their role: see `domain.escalation`).
LADDER_STOPPERS = SUPERVISORS | {AccessRole.manager, AccessRole.director}


class NotPermitted(Exception):
    """An action the caller's role does not allow (HTTP 403)."""

    def __init__(self, action: str, role: AccessRole, allowed: frozenset[AccessRole]) -> None:
        super().__init__(f"role {role} may not {action}; that needs one of the roles "
                         f"{sorted(r.value for r in allowed)}")
        self.action, self.allowed = action, allowed
        self.role: AccessRole | None = role  # None: refused for who the caller is, not the role


class OwnEscalation(NotPermitted):
    """The case's assignee acknowledging its escalation: the lapse is theirs (HTTP 403)."""

    def __init__(self, person: str, clock: str) -> None:
        Exception.__init__(self, f"{person} is the case's assignee and may not acknowledge "
                                 f"the escalation of its {clock} clock; a supervisor, "
                                 f"manager or director does")
        self.action, self.role, self.allowed = "acknowledge_escalation", None, LADDER_STOPPERS


@dataclass(frozen=True)
class Identity:
    """An authenticated caller: a person or an integration, with one role."""

    name: str
    kind: ActorKind
    role: AccessRole
    teams: frozenset[str] = frozenset()
    key_id: int | None = None  # None for bearer tokens from the identity provider

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

    @property
    def team_scoped(self) -> bool:
        return self.role in TEAM_SCOPED

    def sees(self, *, team: str, assignee: str | None) -> bool:
        """Whether a case of `team` assigned to `assignee` is within this caller's scope."""
        if not self.can(Permission.read_cases):
            return False
        if not self.team_scoped:
            return True
        return team in self.teams or (assignee is not None and assignee == self.name)


def role_problem(role: AccessRole, teams: frozenset[str]) -> str | None:
    """Why a role and a set of teams do not go together, or None when they do."""
    if role in TEAM_SCOPED and not teams:
        return f"role {role} needs at least one team"
    if role not in TEAM_SCOPED and teams:
        return f"teams apply to agents and supervisors only, not to role {role}"
    return None
