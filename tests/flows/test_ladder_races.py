"""The complaint ladder holds around its deadlines when Prefect flow runs fire the rungs."""

import random

from flows.runner import PrefectRunner
from tests.store.ladder_race import drive, ladder_problems, script


def test_events_around_each_deadline_leave_every_due_rung_fired_once_under_prefect(
        make_runtime):
    rt = make_runtime(flow_runner="prefect")
    runner = PrefectRunner(rt)
    assert runner.ready.wait(60), "the Prefect API did not answer"
    steps = script(rt, random.Random(24), cases=12)
    drive(rt, runner, steps)
    problems = {case_id: ladder_problems(rt, case_id) for case_id in {s.case_id for s in steps}}
    assert {case_id: p for case_id, p in problems.items() if p} == {}
