"""A month of complaints generated through the real commands with a moved clock."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.runtime import Runtime
from engine.clock import FrozenClock
from tests.conftest import sweep
from tests.store.helpers import open_complaint, send

SUPERVISOR = "wang.fang"
CATEGORIES = (None, "billing", "delivery", "suggestion")


@dataclass(frozen=True)
class Step:
    """Something to do to case `index` at `at` ("open" opens it)."""

    at: datetime
    index: int
    event: str
    data: tuple[tuple[str, object], ...] = ()
    actor: str = "agent:test"


def _script(rng: random.Random, index: int, opened: datetime) -> list[Step]:
    """What happens to one complaint: one of the paths a month of them takes."""
    def at(minutes: float) -> datetime:
        return opened + timedelta(minutes=minutes)

    kind = index % 7
    # A silent case's ladder is acknowledged at 45 minutes: it must be ordinary by then.
    category = "delivery" if kind == 1 else rng.choice(CATEGORIES)
    steps = [Step(opened, index, "open", (("tier", rng.choice("ABC")),
                                          ("category", category)))]
    ack = rng.choice((5, 12, 18, 25, 40))  # ordinary first response: PT20M
    if kind == 0:  # answered, resolved, confirmed
        steps += [Step(at(ack), index, "acknowledge"), Step(at(ack + 300), index, "resolve"),
                  Step(at(ack + 900), index, "confirm")]
    elif kind == 1:  # silent: the ladder climbs; a supervisor acknowledges it late
        steps += [Step(at(45), index, "acknowledge_escalation", (("clock", "first_response"),),
                       SUPERVISOR),
                  Step(at(60), index, "acknowledge")]
    elif kind == 2:  # waits on the customer, resolved, no answer: auto-closes
        steps += [Step(at(ack), index, "acknowledge"), Step(at(ack + 60), index,
                                                            "wait_on_customer"),
                  Step(at(ack + 60 * 30), index, "customer_replied"),
                  Step(at(ack + 60 * 32), index, "resolve")]
    elif kind == 3:  # resolved, rejected, resolved again late, confirmed
        steps += [Step(at(ack), index, "acknowledge"), Step(at(ack + 120), index, "resolve"),
                  Step(at(ack + 240), index, "reject"),
                  Step(at(ack + 60 * 26), index, "resolve"),
                  Step(at(ack + 60 * 27), index, "confirm")]
    elif kind == 4:  # withdrawn
        steps += [Step(at(ack), index, "acknowledge"), Step(at(ack + 30), index, "withdraw")]
    elif kind == 5:  # reassigned and made urgent, then resolved
        steps += [Step(at(ack), index, "acknowledge"),
                  Step(at(ack + 10), index, "change_priority", (("priority", "urgent"),),
                       SUPERVISOR),
                  Step(at(ack + 20), index, "reassign", (("assignee", SUPERVISOR),),
                       SUPERVISOR),
                  Step(at(ack + 60 * rng.choice((3, 5))), index, "resolve")]
    # kind 6: left open, the ladders run to the end of the month
    return steps


def generate_month(rt: Runtime, clock: FrozenClock, *, cases: int, seed: int = 7
                   ) -> tuple[list[int], datetime, datetime]:
    """Open `cases` complaints over 30 days from the clock's time and play their scripts,
    sweeping before every step as the service does; return their ids, the period's start
    and the moment the month was left at (its end plus four days)."""
    rng = random.Random(seed)
    start = clock.now()
    steps = []
    for index in range(cases):
        opened = start + timedelta(minutes=rng.randrange(0, 30 * 24 * 60))
        steps += _script(rng, index, opened)
    ids: dict[int, int] = {}
    for step in sorted(steps, key=lambda s: (s.at, s.index, s.event != "open")):
        clock.set(step.at)
        _sweep_all(rt)
        if step.event == "open":
            data = dict(step.data)
            ids[step.index] = open_complaint(rt, tier=str(data["tier"]),
                                             category=data["category"],  # type: ignore[arg-type]
                                             ref=f"cust-{step.index}")
        else:
            send(rt, ids[step.index], step.event, step.actor, **dict(step.data))
    clock.set(start + timedelta(days=34))
    _sweep_all(rt)
    return [ids[i] for i in range(cases)], start, clock.now()


def _sweep_all(rt: Runtime) -> None:
    """Sweep until nothing more comes due: a rung fired late plans the next, due too."""
    while sweep(rt).timers:
        pass
