"""Load `policies/*.yaml` into a validated `PolicySet`, or say which file and field is wrong."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from core.i18n import message_context
from domain.calendars import BusinessCalendar
from domain.catalogue import brings_policy_file, definition, definitions
from domain.policy import WEEKDAYS, CalendarPolicy, PolicySet

# Which file holds which top-level section.
SECTIONS = {"calendars.yaml": ("calendars",), "teams.yaml": ("teams", "people"),
            "complaint.yaml": ("complaint",), "privacy.yaml": ("privacy",), "pdca.yaml": ("pdca",),
            "reviews.yaml": ("reviews", "greetings"), "followup.yaml": ("followup",)}


class PolicyError(Exception):
    """A policy file that cannot be used; the message names the file and the field."""


def load_policies(directory: Path, *, language: str | None = None,
                  public_url: str | None = None) -> PolicySet:
    """Read and validate every policy file in `directory`; messages are written in
    `language` (the service's, zh-Hans unless given) with case links under `public_url`."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PolicyError(f"{directory}: policies directory not found")

    def read(filename: str) -> tuple[Path, bytes | None]:
        path = directory / filename
        return path, path.read_bytes() if path.is_file() else None

    return _load(read, language=language, public_url=public_url)


def policy_file_names() -> list[str]:
    """The file names a policy set is made of, the processes' own files included."""
    return [*SECTIONS, *(process.POLICY_FILE for _, process in sorted(definitions().items())
                         if brings_policy_file(process))]


def load_policy_texts(files: Mapping[str, str], *, language: str | None = None,
                      public_url: str | None = None) -> PolicySet:
    """Validate a policy set given as its files' contents, by file name, exactly as
    `load_policies` validates a directory of them; errors name the file and the field."""
    known = policy_file_names()
    unknown = sorted(set(files) - set(known))
    if unknown:
        raise PolicyError("invalid policy:\n  " + "\n  ".join(
            f"{name}: not a policy file; the files are {known}" for name in unknown))

    def read(filename: str) -> tuple[Path, bytes | None]:
        text = files.get(filename)
        return Path(filename), text.encode() if text is not None else None

    return _load(read, language=language, public_url=public_url)


def _load(read: Callable[[str], tuple[Path, bytes | None]], *, language: str | None,
          public_url: str | None) -> PolicySet:
    """Validate the policy files `read(filename)` gives (where it is, its bytes or None)."""
    merged: dict[str, Any] = {}
    origin: dict[str, Path] = {}
    digest = hashlib.sha256()
    for filename, sections in SECTIONS.items():
        path, raw = read(filename)
        origin.update({section: path for section in sections})
        if raw is None:
            raise PolicyError(f"{path}: file is missing (it holds {', '.join(sections)})")
        digest.update(filename.encode() + b"\0" + raw)
        data = _parse(path, raw)
        unknown = set(data) - set(sections)
        if unknown:
            raise PolicyError(
                f"{path}: unknown top-level key(s) {sorted(unknown)}; expected {list(sections)}")
        merged.update(data)
    merged["processes"] = _process_policies(read, digest, origin)
    merged["version"] = digest.hexdigest()[:12]
    try:
        policies = PolicySet.model_validate(merged)
    except ValidationError as exc:
        raise PolicyError(_describe(exc, origin)) from None
    _cross_check(policies, origin)
    return policies.model_copy(update={"messages": message_context(language, public_url)})


def _process_policies(read: Callable[[str], tuple[Path, bytes | None]], digest: Any,
                      origin: dict[str, Path]) -> dict[str, Any]:
    """The files process modules bring (`POLICY_FILE`), each validated by its model."""
    loaded = {}
    for name, process in sorted(definitions().items()):
        if not brings_policy_file(process):
            continue
        filename = process.POLICY_FILE
        path, raw = read(filename)
        origin[name] = path
        if raw is None:
            raise PolicyError(f"{path}: file is missing (it holds the {name} process's policy)")
        digest.update(filename.encode() + b"\0" + raw)
        data = _parse(path, raw)
        if set(data) != {name}:
            raise PolicyError(f"{path}: expected exactly one top-level key {name!r}, "
                              f"found {sorted(data)}")
        try:
            loaded[name] = process.POLICY_MODEL.model_validate(data[name])
        except ValidationError as exc:
            raise PolicyError(_describe(exc, origin, prefix=(name,))) from None
    return loaded


def build_calendars(policies: PolicySet) -> dict[str, BusinessCalendar]:
    """Turn calendar policies into business calendars."""
    return {name: _calendar(name, cal) for name, cal in policies.calendars.items()}


def _calendar(name: str, cal: CalendarPolicy) -> BusinessCalendar:
    return BusinessCalendar(
        name=name,
        timezone=cal.timezone,
        intervals=tuple(cal.hours) if cal.hours else None,
        workdays=frozenset(WEEKDAYS.index(day) for day in cal.workdays),
        country=cal.holidays,
    )


# PyYAML's libyaml binding when it was built with it (the wheels are): the same safe
# subset of YAML, parsed in C, several times faster than the pure-Python loader.
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _parse(path: Path, raw: bytes) -> dict[str, Any]:
    try:
        data = yaml.load(raw, Loader=_SAFE_LOADER)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{path}: expected a mapping at the top level")
    return data


def _describe(exc: ValidationError, origin: dict[str, Path],
              prefix: tuple[str, ...] = ()) -> str:
    lines = []
    for error in exc.errors():
        location = [*prefix, *(str(part) for part in error["loc"])]
        path = origin.get(location[0], "policies") if location else "policies"
        field = ".".join(location) or "(top level)"
        lines.append(f"{path}: {field}: {error['msg']}")
    return "invalid policy:\n  " + "\n  ".join(lines)


def _cross_check(policies: PolicySet, origin: dict[str, Path]) -> None:
    """References between files: calendars and teams that must exist."""
    problems = []
    complaint_file = origin.get("complaint")
    for name, clock in policies.complaint.clocks.items():
        problems += policies.unknown(
            "calendar", clock.calendar, f"{complaint_file}: complaint.clocks.{name}.calendar")
    routing = policies.complaint.routing
    for where, team in [("default_team", routing.default_team),
                        *[(f"by_category.{c}", t) for c, t in routing.by_category.items()]]:
        problems += policies.unknown("team", team, f"{complaint_file}: complaint.routing.{where}")
    problems += _review_problems(policies, origin.get("reviews"))
    problems += _pdca_problems(policies, origin.get("pdca"))
    problems += _followup_problems(policies, origin.get("followup"))
    for name, process in sorted(definitions().items()):
        check = getattr(process, "policy_problems", None)
        if check is not None and name in policies.processes:
            problems += check(policies, origin[name])
    if problems:
        raise PolicyError("invalid policy:\n  " + "\n  ".join(problems))


def _review_problems(policies: PolicySet, reviews_file: Path | None) -> list[str]:
    """Crons that APScheduler cannot read (the domain checked that they mean the same)."""
    from apscheduler.triggers.cron import CronTrigger

    problems = []
    for name, review in policies.reviews.items():
        try:
            CronTrigger.from_crontab(review.cron, timezone=review.timezone)
        except ValueError as exc:
            problems.append(f"{reviews_file}: reviews.{name}.cron: {exc}")
    return problems


def _pdca_problems(policies: PolicySet, pdca_file: Path | None) -> list[str]:
    """The PDCA calendar and default team must exist."""
    return (policies.unknown("calendar", policies.pdca.calendar, f"{pdca_file}: pdca.calendar")
            + policies.unknown("team", policies.pdca.default_team,
                               f"{pdca_file}: pdca.default_team"))


def _followup_problems(policies: PolicySet, followup_file: Path | None) -> list[str]:
    """The call calendar, the recovery priority and the closing events must exist."""
    policy, where = policies.followup, f"{followup_file}: followup"
    problems = policies.unknown("calendar", policy.call.calendar, f"{where}.call.calendar")
    if policy.recovery_priority not in policies.complaint.priorities:
        problems.append(f"{where}.recovery_priority: {policy.recovery_priority!r} is not a "
                        f"complaint priority; known: {policies.complaint.priorities}")
    for process, events in policy.after.items():
        try:
            table = definition(process).TABLE
        except LookupError as exc:
            problems.append(f"{where}.after.{process}: {exc}")
            continue
        closing = {t.event for t in table.transitions if t.target in table.final_stages}
        for event in sorted(set(events) - closing):
            problems.append(f"{where}.after.{process}: {event!r} does not close a "
                            f"{process}; closing events: {sorted(closing)}")
    return problems
