"""A case's SLA clocks drawn as bars on one time axis: elapsed, paused spans, the due
time and the next rung of the ladder with who it reaches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from core.queries import ClockView
from domain.catalogue import definition
from domain.process import ClockOp


@dataclass(frozen=True)
class Span:
    """A stretch of the bar, as percentages of its width."""

    left: float
    width: float


@dataclass(frozen=True)
class ClockBar:
    view: ClockView
    elapsed: Span
    pauses: list[Span]
    due_at_percent: float | None
    rung_at_percent: float | None
    stopped_at: datetime | None

    @property
    def paused(self) -> bool:
        return self.view.state == "paused"

    @property
    def running(self) -> bool:
        return self.view.state == "running"

    @property
    def tone(self) -> str:
        return tone_of(self.view)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def pause_spans(process: str, clock: str, timeline: list[Any], now: datetime
                ) -> list[tuple[datetime, datetime]]:
    """When `clock` was paused, from the events whose transitions paused and resumed it."""
    ops: dict[str, ClockOp] = {}
    for transition in definition(process).TABLE.transitions:
        for name, op in transition.clocks:
            if name == clock and op in (ClockOp.pause, ClockOp.resume):
                ops[transition.event] = op
    spans, since = [], None
    for event in timeline:
        found = ops.get(event.type)
        if found is ClockOp.pause and since is None:
            since = _utc(event.at)
        elif found is ClockOp.resume and since is not None:
            spans.append((since, _utc(event.at)))
            since = None
    if since is not None:
        spans.append((since, now))
    return spans


def clock_bars(process: str, views: list[ClockView], stopped: dict[str, datetime | None],
               timeline: list[Any], now: datetime) -> list[ClockBar]:
    """Each clock's bar, from its start to the latest of now, its due time and next rung."""
    now = _utc(now)
    bars = []
    for view in views:
        start = _utc(view.started_at)
        stop = stopped.get(view.name)
        stopped_at = _utc(stop) if stop is not None else None
        end_of_elapsed = stopped_at or now
        rung = view.next_escalation["fire_at"] if view.next_escalation else None
        candidates = [end_of_elapsed, now] + [_utc(m) for m in (view.due_at, rung) if m]
        finish = max(candidates)
        total = max((finish - start).total_seconds(), 1.0)

        def percent(moment: datetime, start: datetime = start, total: float = total) -> float:
            return round(max(0.0, min(100.0, (_utc(moment) - start).total_seconds()
                                      / total * 100)), 2)

        pauses = [Span(percent(a), round(percent(b) - percent(a), 2))
                  for a, b in pause_spans(process, view.name, timeline, end_of_elapsed)]
        bars.append(ClockBar(
            view=view, elapsed=Span(0.0, percent(end_of_elapsed)), pauses=pauses,
            due_at_percent=percent(view.due_at) if view.due_at else None,
            rung_at_percent=percent(rung) if rung else None, stopped_at=stopped_at))
    return bars


def tone_of(view: ClockView) -> str:
    """The badge's colour: breached, paused, at risk (past the 75% warning) or ok."""
    if view.breached or view.remaining < timedelta(0):
        return "breached"
    if view.state == "paused":
        return "paused"
    if view.remaining * 4 <= view.target:
        return "risk"
    return "ok"
