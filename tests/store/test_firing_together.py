"""Escalation rungs fired together, a chunk per transaction, on SQLite and PostgreSQL.

A storm's rungs share transactions (`engine.escalations.CHUNK`); what each case gets must
be what it would get alone: rungs of one case in order, none twice, a timer held by
another instance left alone, and one case that fails never holding back the others.
"""

from dataclasses import replace
from datetime import timedelta

from sqlmodel import Session, select

from domain import escalation
from domain.process import Decision
from engine import escalations as firing
from engine import hooks
from engine import rung_chunks as chunks
from engine.claims import claim_due
from engine.hooks import ProcessHooks
from engine.models import Case, Timer
from tests.conftest import sweep
from tests.store.helpers import claim, escalations, open_complaint, send


def test_rungs_due_together_fire_once_each_in_order(make_runtime, clock):
    rt = make_runtime()
    cases = [open_complaint(rt, ref=f"c{n}") for n in range(30)]
    # Down past the warning and the breach of every first-response clock.
    clock.advance(timedelta(minutes=21))
    report = sweep(rt)
    assert report.timers == {"fired": 60}
    for case_id in cases:
        assert escalations(rt, case_id) == [("first_response", "warning"),
                                            ("first_response", "breach")]
    assert sweep(rt).timers == {}


def test_a_case_that_fails_does_not_hold_back_the_chunk(make_runtime, clock, monkeypatch):
    rt = make_runtime()
    cases = [open_complaint(rt, ref=f"c{n}") for n in range(5)]
    broken = cases[2]
    real_step_due = escalation.step_due

    def step_due(case, **kwargs):  # type: ignore[no-untyped-def]
        if case.id == broken:
            raise RuntimeError("a case the policy cannot handle")
        return real_step_due(case, **kwargs)

    # Both ways of firing a rung decide with it: together (rows) and alone (models).
    for module in (firing, chunks):
        monkeypatch.setattr(module, "step_due", step_due)
    clock.advance(timedelta(minutes=16))
    assert sweep(rt).timers == {"fired": 4, "failed": 1}
    assert [escalations(rt, case_id) for case_id in cases] == [
        [("first_response", "warning")]] * 2 + [[]] + [[("first_response", "warning")]] * 2
    with Session(rt.engine) as session:  # left claimed: retried when its lease runs out
        held = session.exec(select(Timer).where(Timer.case_id == broken,
                                                Timer.name == "first_response")).one()
    assert held.status == "claimed"
    for module in (firing, chunks):
        monkeypatch.setattr(module, "step_due", real_step_due)
    clock.advance(rt.lease + timedelta(seconds=1))
    assert sweep(rt).timers == {"fired": 1}
    assert escalations(rt, broken) == [("first_response", "warning")]


def test_a_timer_another_instance_took_over_is_skipped(make_runtime, clock):
    rt = make_runtime()
    first, second = open_complaint(rt, ref="a"), open_complaint(rt, ref="b")
    clock.advance(timedelta(minutes=16))
    claimed = [row[0] for row in claim_due(
        rt.engine, Timer, due_column="fire_at", now=clock.now(), limit=10,
        instance=rt.settings.instance_id, lease=rt.lease)]
    with Session(rt.engine) as session:  # the lease ran out and another instance took it
        taken = session.exec(select(Timer).where(Timer.case_id == second,
                                                 Timer.status == "claimed")).one()
        taken.claimed_by = "other-instance"
        session.add(taken)
        session.commit()
    assert firing.fire_timers(rt, claimed) == {"fired": 1, "skipped": 1}
    assert escalations(rt, first) == [("first_response", "warning")]
    assert escalations(rt, second) == []


def test_an_obsolete_rung_is_planned_again_while_the_rest_of_its_chunk_fires(make_runtime,
                                                                           clock):
    rt = make_runtime()
    cases = [open_complaint(rt, ref=f"c{n}", priority="urgent") for n in range(3)]
    for case_id in cases:
        send(rt, case_id, "acknowledge")
    clock.advance(timedelta(hours=3, seconds=1))  # 75% of the urgent resolution's PT4H
    claimed = [row.id for row in claim(rt)]
    assert len(claimed) == 3
    # While they are claimed, one case's deadline moves 68 hours on.
    send(rt, cases[1], "change_priority", actor="supervisor:wang.fang", priority="routine")
    assert firing.fire_timers(rt, claimed) == {"fired": 2, "obsolete": 1}
    assert [escalations(rt, case_id) for case_id in cases] == [
        [("resolution", "warning")], [], [("resolution", "warning")]]
    clock.advance(timedelta(hours=54))  # 75% of the routine PT72H: planned again, it fires
    sweep(rt)
    assert escalations(rt, cases[1]) == [("resolution", "warning")]


def test_the_rungs_of_a_process_whose_hook_sees_them_go_through_it(make_runtime, clock,
                                                                    monkeypatch):
    rt = make_runtime()
    cases = [open_complaint(rt, ref=f"c{n}") for n in range(3)]
    seen: list[tuple[int | None, str]] = []

    def after_decision(session: Session, case: Case, decision: Decision,
                       **kwargs: object) -> None:
        seen.append((case.id, decision.timeline[0].type))

    installed = hooks.installed()
    monkeypatch.setattr(hooks, "_installed", replace(installed, by_process={
        **installed.by_process, "complaint": ProcessHooks(after_decision=after_decision)}))
    clock.advance(timedelta(minutes=16))
    assert sweep(rt).timers == {"fired": 3}
    assert sorted(seen) == [(case_id, "sla_warning") for case_id in cases]
    assert [escalations(rt, case_id) for case_id in cases] == [
        [("first_response", "warning")]] * 3


def test_chunks_keep_each_case_s_rungs_together_and_in_order(make_runtime, clock,
                                                               monkeypatch):
    rt = make_runtime()
    cases = [open_complaint(rt, ref=f"c{n}") for n in range(9)]
    monkeypatch.setattr(firing, "CHUNK", 5)  # chunks of two cases, fired two at once
    clock.advance(timedelta(minutes=21))  # each case's warning and breach
    assert sweep(rt).timers == {"fired": 18}
    for case_id in cases:
        assert escalations(rt, case_id) == [("first_response", "warning"),
                                            ("first_response", "breach")]
    assert sweep(rt).timers == {}


def test_a_case_s_rungs_are_never_split_between_chunks(monkeypatch):
    monkeypatch.setattr(firing, "CHUNK", 4)
    case_of = {1: 10, 2: 11, 3: 10, 4: 12, 5: 11, 6: 13, 7: 13, 8: 13}
    assert firing.by_case([1, 2, 3, 4, 5, 6, 7, 8], case_of) == [[1, 3, 2, 5], [4, 6, 7, 8]]


def test_a_case_whose_data_json_cannot_write_fast_fires_in_its_chunk(make_runtime, clock,
                                                                     caplog):
    """A chunk's rows go to PostgreSQL as one JSON document: what orjson refuses (an
    integer beyond 64 bits in the case's data) the standard library writes, times and
    all, and the rung fires with the others, not alone after a failed chunk."""
    rt = make_runtime()
    cases = [open_complaint(rt, ref=f"c{n}") for n in range(3)]
    with Session(rt.engine) as session:
        case = session.get(Case, cases[1])
        assert case is not None
        case.data = {**case.data, "big": 2**70}
        session.add(case)
        session.commit()
    clock.advance(timedelta(minutes=21))  # the breach raises each case's level
    assert sweep(rt).timers == {"fired": 6}
    assert [escalations(rt, case_id) for case_id in cases] == [
        [("first_response", "warning"), ("first_response", "breach")]] * 3
    with Session(rt.engine) as session:
        stored = session.get(Case, cases[1])
        assert stored is not None and stored.data["big"] == 2**70
        assert stored.escalation_level == 1
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == []
