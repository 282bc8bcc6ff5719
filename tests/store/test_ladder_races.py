"""The complaint ladder holds under events sent at any moment around its deadlines."""

import random

from engine.sweeper import InlineRunner
from tests.store.ladder_race import drive, ladder_problems, script


def test_every_rung_due_by_the_final_clock_fires_once_whatever_the_event_timing(
        make_runtime):
    rt = make_runtime()
    steps = script(rt, random.Random(19), cases=40)
    drive(rt, InlineRunner(rt), steps)
    problems = {case_id: ladder_problems(rt, case_id) for case_id in {s.case_id for s in steps}}
    assert {case_id: p for case_id, p in problems.items() if p} == {}
