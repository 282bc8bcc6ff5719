"""Policy schema: every number the processes use, validated, with unknown keys refused.

The files in `policies/` are parsed into these models by `core.policy_loader`. The
models only hold data; the business rules that read them live beside them in `domain`.
"""

from __future__ import annotations

from datetime import time, timedelta
from enum import StrEnum
from typing import Annotated, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from domain.access import AccessRole
from domain.durations import parse_duration
from domain.messages import MessageContext
from domain.policy_types import CountryCode, LanguageTag, TimezoneName, placeholders
from domain.quiet_hours import QuietHours
from domain.reviews.policy import GreetingsPolicy, ReviewPolicy, review_name_problem

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """A policy section: frozen, and any key not declared is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    return parse_duration(value)


Duration = Annotated[timedelta, BeforeValidator(_duration)]


class Tier(StrEnum):
    A = "A"
    B = "B"
    C = "C"
    VIP = "VIP"


class Role(StrEnum):
    """Who a notification or a reassignment goes to, resolved against the case's team."""

    assignee = "assignee"
    supervisor = "supervisor"
    manager = "manager"
    director = "director"


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WORKWEEK: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")


class CalendarPolicy(Strict):
    """A business calendar: 24x7 when `hours` is absent."""

    timezone: TimezoneName = "Asia/Shanghai"
    hours: list[tuple[time, time]] | None = None
    workdays: list[Weekday] = Field(default_factory=lambda: list(WORKWEEK))
    holidays: CountryCode = Field(default=None, description="ISO country code, e.g. CN")

    # Field validators, so an error names the field (calendars.x.hours), not the calendar.
    @field_validator("hours")
    @classmethod
    def _ordered_hours(cls, value: list[tuple[time, time]] | None
                       ) -> list[tuple[time, time]] | None:
        if value is not None and not value:
            raise ValueError("hours is empty: omit it for a 24x7 calendar")
        previous_end = None
        for start, end in value or []:
            if start >= end:
                raise ValueError(f"working interval {start}-{end} ends before it starts")
            if previous_end is not None and start < previous_end:
                raise ValueError(f"working interval {start}-{end} overlaps or precedes the one "
                                 "before it; list the day's intervals in order")
            previous_end = end
        return value


class EscalationStep(Strict):
    """One rung of a ladder: at `at_percent` of the clock's target, notify and maybe reassign."""

    name: str
    at_percent: int = Field(gt=0, le=1000)
    level: int = Field(ge=0, le=3, description="0 is a warning; 1-3 are escalation levels")
    notify: list[Role] = Field(min_length=1)
    reassign_to: Role | None = None


class ClockPolicy(Strict):
    """An SLA clock of a process: its calendar and its target per priority."""

    calendar: str
    targets: dict[str, Duration]


class TierPolicy(Strict):
    """How a customer tier tightens targets and raises priority."""

    target_factor: float = Field(default=1.0, gt=0, le=1)
    raise_priority: int = Field(default=0, ge=0, le=2)


class ClassificationRule(Strict):
    """The first rule whose every given condition matches sets the priority."""

    name: str
    priority: str
    keywords_any: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    tiers: list[Tier] = Field(default_factory=list)


class RoutingPolicy(Strict):
    """Which team queue a case lands in."""

    default_team: str
    by_category: dict[str, str] = Field(default_factory=dict)


class TeamPolicy(Strict):
    """A team queue, its members and the people escalations go to."""

    members: list[str] = Field(min_length=1)
    strategy: Literal["least_loaded", "round_robin"] = "least_loaded"
    supervisor: str
    manager: str
    director: str
    # Where the team's day starts and ends ("breached today"), and its times are shown.
    timezone: TimezoneName = "Asia/Shanghai"
    language: LanguageTag = Field(
        default=None, description="what staff messages and reports to this team are written "
        "in first (zh-Hans or en); the service's language (CASEFLOW_LANGUAGE) when absent")


class PersonPolicy(Strict):
    """Where one person's notifications go: apprise URLs (json://, mailto://, dingtalk://...)."""

    notify: list[str] = Field(default_factory=list)


class ComplaintPolicy(Strict):
    """Complaint handling: classification, clocks, escalation and auto-close."""

    priorities: list[str] = Field(min_length=1, description="most urgent first")
    default_priority: str
    classification: list[ClassificationRule] = Field(default_factory=list)
    tiers: dict[Tier, TierPolicy] = Field(default_factory=dict)
    clocks: dict[str, ClockPolicy]
    escalation: list[EscalationStep] = Field(min_length=1)
    auto_close_after: Duration
    routing: RoutingPolicy

    @model_validator(mode="after")
    def _check(self) -> ComplaintPolicy:
        known = set(self.priorities)
        if self.default_priority not in known:
            raise ValueError(f"default_priority {self.default_priority!r} is not in priorities")
        for rule in self.classification:
            if rule.priority not in known:
                raise ValueError(f"rule {rule.name!r}: unknown priority {rule.priority!r}")
        for name, clock in self.clocks.items():
            missing = known - set(clock.targets)
            extra = set(clock.targets) - known
            if missing or extra:
                raise ValueError(
                    f"clocks.{name}.targets must name each priority exactly: "
                    f"missing {sorted(missing)}, unknown {sorted(extra)}"
                )
        percents = [step.at_percent for step in self.escalation]
        if percents != sorted(set(percents)):
            raise ValueError("escalation steps must have rising, distinct at_percent values")
        return self


class Disclosure(StrEnum):
    """How much of a customer's phone number or e-mail address a reader sees."""

    full = "full"
    masked = "masked"
    omitted = "omitted"


class PrivacyPolicy(Strict):
    """Who sees customers' contact details, and how much of them."""

    notifications: Disclosure = Disclosure.masked
    case_reads: dict[AccessRole, Disclosure] = Field(default_factory=lambda: {
        AccessRole.agent: Disclosure.full, AccessRole.supervisor: Disclosure.full})

    def for_reader(self, role: AccessRole) -> Disclosure:
        """Roles the policy does not name see contact details masked."""
        return self.case_reads.get(role, Disclosure.masked)


class PdcaPolicy(Strict):
    """PDCA cycles: how long each stage may take, the pilot, and who hears when one is late."""

    calendar: str = Field(description="the calendar the stage due times are measured on")
    plan_within: Duration = Field(description="from opening to the pilot's start")
    act_within: Duration = Field(description="from the check to standardise or revise")
    pilot_period: Duration = Field(description="default pilot length, in calendar time")
    baseline_window: Duration = Field(description="the period before planning that the "
                                                  "baseline is measured over")
    default_team: str
    escalation: list[EscalationStep] = Field(min_length=1)


class SurveyMessage(Strict):
    """A survey message; `{name}` is the customer's name, `{link}` the survey's link,
    `{expires}` the link's last day."""

    subject: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=2000)

    @field_validator("subject", "body")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        unknown = placeholders(value) - {"name", "link", "expires"}
        if unknown:
            raise ValueError(f"unknown placeholder(s) {sorted(unknown)}; use {{name}}, "
                             "{link}, {expires}")
        return value


class LowScore(Strict):
    """An answer at or below either threshold opens a service-recovery complaint."""

    csat_at_most: int = Field(ge=1, le=5)
    nps_at_most: int = Field(ge=0, le=10)


class CallPolicy(Strict):
    """The return-visit call task: when it is due, how often to try, who hears when late."""

    calendar: str
    due_within: Duration
    max_attempts: int = Field(ge=1, le=10)
    escalation: list[EscalationStep] = Field(min_length=1)


class FollowUpPolicy(Strict):
    """Satisfaction follow-up (回訪): survey, reminder, return-visit call, service recovery."""

    after: dict[str, list[str]] = Field(
        description="process -> the closing events that start a follow-up")
    survey_after: Duration
    reminder_after: Duration = Field(description="after the survey was sent")
    call_after: Duration = Field(description="after the survey was sent, with no answer")
    always_call_tiers: list[Tier] = Field(default_factory=list)
    link_valid_for: Duration
    once_per: Duration = Field(description="at most one survey per customer in this window")
    quiet_hours: QuietHours | None = None
    low_score: LowScore
    recovery_priority: str = Field(description="the complaint priority of a recovery case")
    call: CallPolicy
    survey: SurveyMessage
    reminder: SurveyMessage

    @model_validator(mode="after")
    def _order(self) -> FollowUpPolicy:
        if not self.reminder_after < self.call_after:
            raise ValueError("reminder_after must come before call_after")
        if not self.reminder_after < self.link_valid_for:
            raise ValueError("link_valid_for must outlast reminder_after: a reminder "
                             "carries the same link")
        return self


class PolicySet(Strict):
    """Everything loaded from one policies directory, with a version fingerprint."""

    version: str
    calendars: dict[str, CalendarPolicy]
    teams: dict[str, TeamPolicy]
    people: dict[str, PersonPolicy] = Field(default_factory=dict)
    complaint: ComplaintPolicy
    privacy: PrivacyPolicy = Field(default_factory=PrivacyPolicy)
    pdca: PdcaPolicy
    followup: FollowUpPolicy
    reviews: dict[str, ReviewPolicy] = Field(default_factory=dict)
    greetings: GreetingsPolicy = Field(default_factory=GreetingsPolicy)
    # Policies of process modules that bring their own file (`POLICY_FILE`), by process
    # name, each already validated by the module's `POLICY_MODEL`.
    processes: dict[str, BaseModel] = Field(default_factory=dict)
    # Not from a file: the catalogues and settings messages are written with (core/i18n.py).
    messages: MessageContext = Field(default_factory=MessageContext)

    def staff_messages(self, team: str | None) -> MessageContext:
        """The message context for staff of `team`: its language first, else the service's.
        Customers keep their own language (`messages.for_customers`)."""
        chosen = self.teams[team].language if team in self.teams else None
        if chosen is None or chosen == self.messages.language:
            return self.messages
        return self.messages.model_copy(update={"language": chosen})

    def person_messages(self, person: str) -> MessageContext:
        """The message context for a digest to `person`: the language of the teams they
        work in or lead when those agree, else the service's."""
        teams = [name for name, team in self.teams.items()
                 if person in (*team.members, team.supervisor, team.manager, team.director)]
        languages = {self.staff_messages(name).language for name in teams}
        return self.staff_messages(teams[0]) if len(languages) == 1 else self.messages

    def unknown(self, kind: Literal["calendar", "team"], name: str, where: str) -> list[str]:
        """The problem with a reference to a calendar or team that does not exist, if any;
        `where` is the file and the field that names it."""
        known = self.calendars if kind == "calendar" else self.teams
        return [] if name in known else [
            f"{where}: unknown {kind} {name!r}; known: {sorted(known)}"]

    def process_policy(self, process: str, model: type[M]) -> M:
        """The policy a process module brought in its own file, as its `model`."""
        try:
            policy = self.processes[process]
        except KeyError:
            raise LookupError(f"no policy for process {process!r}; "
                              f"loaded: {sorted(self.processes)}") from None
        if not isinstance(policy, model):
            raise TypeError(f"the {process} policy is a {type(policy).__name__}, "
                            f"not a {model.__name__}")
        return policy

    @field_validator("reviews")
    @classmethod
    def _review_names(cls, value: dict[str, ReviewPolicy]) -> dict[str, ReviewPolicy]:
        for name in value:
            problem = review_name_problem(name)
            if problem:
                raise ValueError(problem)
        return value
