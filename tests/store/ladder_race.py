"""Events sent at random moments around a complaint's rungs, against the sweeper's steps.

Each complaint gets a script: a pausing event (`wait_on_customer`, `resolve`, or a
`change_priority` that pushes its deadlines away) within a few seconds of one rung's due
time, and the event that undoes it a few seconds later. Each event lands at a random
phase of the sweeper's step at that moment: before it claims the due timers, between
the claim and the firing of what it claimed (the window a slow flow run leaves open), or
after. The oracle replays each case's timeline on the domain's clock: every rung fired
only once the clock had reached it, in order, and every rung the clock has reached by
the end fired exactly once.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.runtime import Runtime
from domain import clocks as clock_ops
from domain.clocks import ClockState
from engine.sweeper import FlowRunner, Sweeper
from tests.store.helpers import claim, open_complaint, send, timeline

RESOLUTION = "resolution"
# What pauses the resolution clock or moves its deadlines, and what undoes it.
SCRIPTS = [(("wait_on_customer", {}), ("customer_replied", {})),
           (("resolve", {}), ("reject", {})),
           (("change_priority", {"priority": "routine"}),
            ("change_priority", {"priority": "urgent"}))]
PHASES = ("before_claim", "while_claimed", "after_fire")
SUPERVISOR = "wang.fang"  # changes the priority: a supervisor's event


@dataclass(frozen=True)
class Step:
    """One event of one case, at a moment and a phase of the sweeper's step."""

    at: datetime
    phase: str
    case_id: int
    event: str
    data: dict


def script(rt: Runtime, rng: random.Random, cases: int) -> list[Step]:
    """Open `cases` urgent complaints, acknowledged at once (resolution PT4H), and draw
    each one's two events around a random rung of its resolution ladder."""
    target = timedelta(hours=4)
    ladder = rt.policies.complaint.escalation
    steps = []
    for n in range(cases):
        # A minute apart: each case's moments are its own, and the sweeper steps only
        # when its events come, so a rung due a moment before an event is still waiting
        # for the sweeper, as it is while a flow run takes a few seconds.
        opened = rt.clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]
        case_id = open_complaint(rt, priority="urgent", ref=f"race-{n}")
        send(rt, case_id, "acknowledge")
        rung = rng.choice(ladder)
        due = opened + target * (rung.at_percent / 100)
        first = due + timedelta(seconds=rng.uniform(-2.5, 2.5))
        then = first + timedelta(seconds=rng.uniform(0.5, 5.0))
        (pause, pause_data), (undo, undo_data) = rng.choice(SCRIPTS)
        steps += [Step(first, rng.choice(PHASES), case_id, pause, pause_data),
                  Step(then, rng.choice(PHASES), case_id, undo, undo_data)]
    return steps


def drive(rt: Runtime, runner: FlowRunner, steps: list[Step]) -> None:
    """Play `steps` in time order through the sweeper's claim and `runner`'s firing, then
    let the sweeper run long after the last rung."""
    clock = rt.clock
    moments = sorted({s.at for s in steps})
    by_moment: defaultdict[datetime, list[Step]] = defaultdict(list)
    for s in steps:
        by_moment[s.at].append(s)
    for moment in moments:
        clock.set(moment)  # type: ignore[attr-defined]
        here = by_moment[moment]
        _send(rt, here, "before_claim")
        claimed = claim(rt, returning=("id", "process", "case_id"))
        _send(rt, here, "while_claimed")
        by_process: defaultdict[str, list[tuple[int, int]]] = defaultdict(list)
        for timer_id, process, case_id in claimed:
            by_process[process].append((timer_id, case_id))
        for process, rows in by_process.items():
            runner.process_timers(process, [t for t, _ in rows], sorted({c for _, c in rows}))
        _send(rt, here, "after_fire")
    clock.set(moments[-1] + timedelta(hours=24))  # type: ignore[attr-defined]
    sweeper = Sweeper(rt, runner)
    while sweeper.tick().timers:
        pass


def _send(rt: Runtime, steps: list[Step], phase: str) -> None:
    for s in steps:
        if s.phase == phase:
            actor = SUPERVISOR if s.event == "change_priority" else "agent:test"
            send(rt, s.case_id, s.event, actor=actor, **s.data)


def ladder_problems(rt: Runtime, case_id: int) -> list[str]:
    """What went wrong with the case's resolution ladder, replayed from its timeline."""
    ladder = rt.policies.complaint.escalation
    targets = rt.policies.complaint.clocks[RESOLUTION].targets
    calendar = rt.calendars[rt.policies.complaint.clocks[RESOLUTION].calendar]
    problems: list[str] = []
    clock = None
    fired = 0
    for entry in timeline(rt, case_id):
        now = entry.at
        if entry.type == "opened":
            clock = clock_ops.start_clock(name=RESOLUTION, calendar=calendar.name,
                                          target=targets["urgent"], now=now)
            continue
        assert clock is not None
        if entry.type == "wait_on_customer":
            clock = clock_ops.pause(clock, calendar, now)
        elif entry.type in ("resolve", "withdraw"):
            clock = clock_ops.stop(clock, calendar, now)
        elif entry.type in ("customer_replied", "reject"):
            clock = clock_ops.resume(clock, now)
        elif entry.type == "change_priority":
            clock = clock_ops.retarget(clock, targets[entry.details["priority"]])
        elif entry.type in ("sla_warning", "escalated") and entry.details["clock"] == RESOLUTION:
            if fired == len(ladder):
                problems.append(f"{entry.details['step']} fired after the whole ladder had")
                continue
            rung = ladder[fired]
            reached = clock.used(calendar, now) >= clock.target * (rung.at_percent / 100)
            if entry.details["step"] != rung.name:
                problems.append(f"{entry.details['step']} fired where {rung.name} was next")
            if clock.state is not ClockState.running or not reached:
                problems.append(f"{rung.name} fired at {now} before the clock reached it")
            fired += 1
    assert clock is not None
    end = rt.clock.now()
    due = sum(1 for r in ladder
              if clock.used(calendar, end) >= clock.target * (r.at_percent / 100))
    if fired != due:
        problems.append(f"{fired} rungs fired, {due} are due by the clock as it stands")
    return problems

