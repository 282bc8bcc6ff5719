"""The form of each event a case allows, made from the event's data model (the one the
API checks), and the event read back from a posted form.

A field's input follows its type: text, a number, yes or no, one item a line for a
list, JSON for an object; known choices (the case's clocks, the team's people, the
priorities, a crisis's notices, the severities) are offered as a list.
"""

from __future__ import annotations

import json
import types
from dataclasses import dataclass, field
from typing import Any, Union, get_args, get_origin

from core.runtime import Runtime
from domain.catalogue import definition
from domain.complaint import rules as complaint
from domain.crisis.policy import SEVERITIES

LONG_TEXTS = frozenset({"body", "summary", "description", "notes", "what_happened",
                        "root_cause", "comment", "reason"})
MAX_NOTE = 4000


class FormProblem(ValueError):
    """A form field that cannot be read as its event's data says (a field and a reason)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str  # text, long, int, float, bool, lines, json, choice
    description: str | None = None
    choices: list[tuple[str, str]] = field(default_factory=list)  # (value, label)


@dataclass(frozen=True)
class EventForm:
    event: str
    fields: list[FieldSpec]


def _bare(annotation: Any) -> Any:
    """`str | None` -> str."""
    if get_origin(annotation) in (Union, types.UnionType):
        found = [a for a in get_args(annotation) if a is not type(None)]
        return found[0] if len(found) == 1 else annotation
    return annotation


def _kind(name: str, annotation: Any) -> str:
    bare = _bare(annotation)
    origin = get_origin(bare)
    if bare is bool:
        return "bool"
    if bare is int:
        return "int"
    if bare is float:
        return "float"
    if origin is list:
        return "lines"
    if bare is dict or origin is dict:
        return "json"
    return "long" if name in LONG_TEXTS else "text"


def _choices(name: str, case: Any, clocks: list[str], rt: Runtime) -> list[tuple[str, str]]:
    if name == "clock":
        return [(c, c) for c in clocks]
    if name == "priority" and case.process == complaint.NAME:
        return [(p, p) for p in complaint.policy_of(rt.policies).priorities]
    if name == "assignee":
        team = rt.policies.teams.get(case.team)
        if team is None:
            return []
        people = [*team.members, team.supervisor, team.manager, team.director]
        return [(p, p) for p in dict.fromkeys(people)]
    if name == "notice":
        return [(str(n), f"#{n} {notice.get('channel', '')} · {notice.get('status', '')}")
                for n, notice in enumerate((case.data or {}).get("notices", []), start=1)]
    if name == "severity":
        return [(s, s) for s in SEVERITIES]
    return []


def event_forms(case: Any, allowed: list[str], clocks: list[str], rt: Runtime
                ) -> list[EventForm]:
    """A form for each event in `allowed`, its fields from the event's data model."""
    models = definition(case.process).TABLE.data
    forms = []
    for event in allowed:
        fields = []
        model = models.get(event)
        for name, info in (model.model_fields.items() if model else ()):
            choices = _choices(name, case, clocks, rt)
            kind = "choice" if choices else _kind(name, info.annotation)
            fields.append(FieldSpec(name, kind, info.description, choices))
        forms.append(EventForm(event, fields))
    return forms


def read_event_data(case: Any, event: str, form: dict[str, str]
                    ) -> tuple[dict[str, Any], str | None]:
    """The event's data and note from a posted form; FormProblem names a field it can't read."""
    model = definition(case.process).TABLE.data.get(event)
    data: dict[str, Any] = {}
    for name, info in (model.model_fields.items() if model else ()):
        raw = form.get(f"data.{name}", "").strip()
        if not raw:
            continue
        kind = _kind(name, info.annotation)
        data[name] = _parse(f"data.{name}", kind, raw)
    note = form.get("note", "").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        raise FormProblem("note", f"at most {MAX_NOTE} characters")
    return data, note


def _parse(name: str, kind: str, raw: str) -> Any:
    if kind == "int":
        try:
            return int(raw)
        except ValueError:
            raise FormProblem(name, "a whole number is required") from None
    if kind == "float":
        try:
            return float(raw)
        except ValueError:
            raise FormProblem(name, "a number is required") from None
    if kind == "bool":
        if raw not in ("yes", "no"):
            raise FormProblem(name, "yes or no")
        return raw == "yes"
    if kind == "lines":
        return [line.strip() for line in raw.splitlines() if line.strip()]
    if kind == "json":
        try:
            value = json.loads(raw)
        except ValueError:
            raise FormProblem(name, "a JSON object is required") from None
        if not isinstance(value, dict):
            raise FormProblem(name, "a JSON object is required")
        return value
    return raw
