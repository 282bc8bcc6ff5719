"""The supervisors' worklists (core.worklists) over a real store, with a moved clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from core import worklists
from core.queries import CaseFilter
from core.runtime import Runtime
from core.worklists import facets, overview, queue, workload
from domain.access import AccessRole, ActorKind, Identity
from engine.models import Case
from tests.conftest import sweep
from tests.store.helpers import open_complaint, send

SUPERVISOR_OF_COMPLAINTS = Identity("wang.fang", ActorKind.person, AccessRole.supervisor,
                                    frozenset({"complaints"}))
SUPERVISOR_OF_BILLING = Identity("wang.fang", ActorKind.person, AccessRole.supervisor,
                                 frozenset({"billing"}))
MANAGER = Identity("liu.yang", ActorKind.person, AccessRole.manager)
HOUR = timedelta(hours=1)


def _queue(rt: Runtime, reader: Identity, flt: CaseFilter | None = None, *,
           limit: int = 50, offset: int = 0):  # type: ignore[no-untyped-def]
    with Session(rt.engine) as session:
        return queue(session, reader, rt, rt.clock.now(), flt or CaseFilter(),
                     limit=limit, offset=offset)


def _ids(page) -> list[int]:  # type: ignore[no-untyped-def]
    return [row.case.id for row in page.rows]


def _keyed_pages(rt: Runtime, reader: Identity, *, limit: int) -> list[list[int]]:
    """Every page of the queue, each started after the last one's key."""
    pages, after = [], None
    with Session(rt.engine) as session:
        for _ in range(50):
            page = queue(session, reader, rt, rt.clock.now(), CaseFilter(), limit=limit,
                         after=after)
            pages.append(_ids(page))
            if page.after is None:
                return pages
            after = page.after
    raise AssertionError("the pages never ran out")


def test_the_queue_puts_the_most_overdue_first_then_the_soonest_due(make_runtime, clock):
    rt = make_runtime()
    ordinary = open_complaint(rt, ref="c1")  # first response due at 10:20
    routine = open_complaint(rt, ref="c2", priority="routine")  # due at 12:00
    clock.advance(timedelta(minutes=25))
    urgent = open_complaint(rt, ref="c3", priority="urgent")  # due at 10:35
    page = _queue(rt, SUPERVISOR_OF_COMPLAINTS)
    assert _ids(page) == [ordinary, urgent, routine]  # the overdue one first
    assert page.total == 3
    top, soon = page.rows[0].sla, page.rows[1].sla
    assert top is not None and top.breached and top.time_left is None
    assert top.overdue_by == timedelta(minutes=5) and top.clock == "first_response"
    assert soon is not None and not soon.breached and soon.overdue_by is None
    assert soon.time_left == timedelta(minutes=10)
    assert soon.next_rung is not None and soon.next_rung.name == "warning"
    assert soon.next_rung.reaches == [page.rows[1].case.assignee]

    clock.advance(timedelta(minutes=15))  # 10:40: urgent overdue too, by less
    page = _queue(rt, SUPERVISOR_OF_COMPLAINTS)
    assert _ids(page) == [ordinary, urgent, routine]
    overdue = [row.sla.overdue_by for row in page.rows[:2] if row.sla]
    assert overdue == [timedelta(minutes=20), timedelta(minutes=5)]


def test_a_queue_too_long_to_sort_is_walked_in_due_order_to_the_same_pages(
        make_runtime, clock, monkeypatch):
    rt = make_runtime()
    opened = []
    for k, priority in enumerate(["ordinary", "routine", "urgent", "ordinary", "routine"]):
        opened.append(open_complaint(rt, ref=f"c{k}", priority=priority))
        clock.advance(timedelta(minutes=3))
    send(rt, opened[3], "acknowledge")  # its resolution clock alone runs now
    opened.append(open_complaint(rt, ref="c5", priority="urgent"))
    send(rt, opened[-1], "acknowledge")
    send(rt, opened[-1], "wait_on_customer")  # no clock due: after all the others
    clock.advance(timedelta(minutes=20))  # some past due, some not
    sorted_pages = [_ids(_queue(rt, MANAGER, limit=2, offset=k)) for k in range(0, 6, 2)]
    assert _keyed_pages(rt, MANAGER, limit=2) == sorted_pages
    monkeypatch.setattr(worklists, "SORT_IN_STORE_UP_TO", 0)
    monkeypatch.setattr(worklists, "WALK_BATCH", 1)  # a clock at a time: many batches
    walked_pages = [_ids(_queue(rt, MANAGER, limit=2, offset=k)) for k in range(0, 6, 2)]
    assert walked_pages == sorted_pages
    # Each case once, though all but one have two clocks running, walked after a key.
    assert _keyed_pages(rt, MANAGER, limit=2) == sorted_pages
    assert _keyed_pages(rt, MANAGER, limit=1) == [[case] for case in sum(sorted_pages, [])]
    assert sorted(sum(walked_pages, [])) == sorted(opened)
    assert _ids(_queue(rt, MANAGER, CaseFilter(priority="urgent"))) == [opened[2], opened[-1]]


def test_paused_and_closed_cases_leave_the_head_of_the_queue(make_runtime, clock):
    rt = make_runtime()
    waiting = open_complaint(rt, ref="c1", priority="urgent")
    send(rt, waiting, "acknowledge")
    send(rt, waiting, "wait_on_customer")  # resolution paused, first response stopped
    withdrawn = open_complaint(rt, ref="c2", priority="urgent")
    send(rt, withdrawn, "withdraw")
    running = open_complaint(rt, ref="c3", priority="routine")
    page = _queue(rt, SUPERVISOR_OF_COMPLAINTS)
    assert _ids(page) == [running, waiting]
    assert page.total == 2
    paused = page.rows[1].sla
    assert paused is not None and paused.paused and paused.clock == "resolution"
    assert paused.due_at is None and paused.time_left == timedelta(hours=4)
    # Paging runs on from the cases with a due time into the paused ones.
    assert _ids(_queue(rt, SUPERVISOR_OF_COMPLAINTS, limit=1, offset=1)) == [waiting]
    assert _ids(_queue(rt, SUPERVISOR_OF_COMPLAINTS, limit=1, offset=2)) == []


def test_the_queue_filters_and_keeps_to_the_reader_s_teams(make_runtime, clock):
    rt = make_runtime()
    complaint = open_complaint(rt, ref="c1")
    billing = open_complaint(rt, ref="c2", category="billing")
    assert _ids(_queue(rt, SUPERVISOR_OF_COMPLAINTS)) == [complaint]
    assert _ids(_queue(rt, SUPERVISOR_OF_BILLING)) == [billing]
    assert _queue(rt, SUPERVISOR_OF_BILLING, CaseFilter(team="complaints")).total == 0
    assert sorted(_ids(_queue(rt, MANAGER))) == sorted([complaint, billing])
    assert _ids(_queue(rt, MANAGER, CaseFilter(team="billing"))) == [billing]
    assert _ids(_queue(rt, MANAGER, CaseFilter(priority="urgent"))) == []
    assert _ids(_queue(rt, MANAGER, CaseFilter(stage="assigned", process="complaint"))) \
        == [complaint, billing]


def test_cases_assigned_to_a_reader_in_another_team_count_in_their_scope(make_runtime, clock):
    rt = make_runtime()
    theirs = open_complaint(rt, ref="c1")  # the complaints team's, assigned to someone
    billing = open_complaint(rt, ref="c2", category="billing")
    open_complaint(rt, ref="c3")  # the complaints team's too, perhaps another person's
    with Session(rt.engine) as session:
        person = session.get(Case, theirs).assignee  # type: ignore[union-attr]
        agent = Identity(person, ActorKind.person, AccessRole.agent, frozenset({"billing"}))
        assert person is not None
        mine = [c for c in session.exec(select(Case)).all()
                if c.team == "billing" or c.assignee == person]
        page = queue(session, agent, rt, rt.clock.now(), CaseFilter(), limit=50, offset=0)
        counted = facets(session, agent, CaseFilter())
        loads = workload(session, agent, rt, rt.clock.now())
    assert sorted(_ids(page)) == sorted(c.id for c in mine) and page.total == len(mine)
    assert billing in _ids(page) and theirs in _ids(page)
    assert counted.total == len(mine) and counted.team.get("complaints") == len(mine) - 1
    assert sum(p.open for p in loads) == len(mine)


def test_overview_counts_open_at_risk_and_breached_today_per_team(make_runtime, clock):
    rt = make_runtime()
    soon = open_complaint(rt, ref="c1")  # first response due at 10:20
    open_complaint(rt, ref="c2", priority="routine")  # due at 12:00
    open_complaint(rt, ref="c3", category="billing")
    with Session(rt.engine) as session:
        teams = overview(session, SUPERVISOR_OF_COMPLAINTS, rt, rt.clock.now(), HOUR)
    assert [t.team for t in teams] == ["complaints"]  # never the billing team
    (team,) = teams
    assert (team.open, team.at_risk, team.breached_today) == (2, 1, 0)
    assert team.timezone == "Asia/Shanghai" and team.target == 0.95

    clock.advance(timedelta(minutes=30))  # 10:30: the first complaint is overdue
    send(rt, soon, "acknowledge")  # stops first response, breached: missed
    with Session(rt.engine) as session:
        (team,) = overview(session, SUPERVISOR_OF_COMPLAINTS, rt, rt.clock.now(), HOUR)
        (all_teams) = overview(session, MANAGER, rt, rt.clock.now(), HOUR)
    assert team.breached_today == 1
    assert (team.on_time_today.on_time, team.on_time_today.decided) == (0, 1)
    assert team.on_time_today.rate == 0.0
    assert [t.team for t in all_teams] == sorted(rt.policies.teams)


def test_breached_today_starts_at_the_team_s_local_midnight(make_runtime, clock):
    rt = make_runtime()
    clock.set(clock.now().replace(hour=15, minute=30))  # 23:30 in Shanghai
    case = open_complaint(rt, ref="c1")  # first response due at 23:50 local
    clock.advance(timedelta(minutes=25))  # 23:55: breached yesterday, seen before midnight
    sweep(rt)  # the sweeper records the breach
    with Session(rt.engine) as session:
        (before,) = overview(session, SUPERVISOR_OF_COMPLAINTS, rt, rt.clock.now(), HOUR)
    assert before.breached_today == 1
    clock.advance(timedelta(minutes=10))  # 00:05 the next day
    with Session(rt.engine) as session:
        (after,) = overview(session, SUPERVISOR_OF_COMPLAINTS, rt, rt.clock.now(), HOUR)
    assert after.breached_today == 0  # it breached yesterday
    assert after.on_time_today.decided == 0  # and was opened yesterday
    assert after.on_time_week.decided == 1
    assert case


def test_breached_today_counts_from_each_team_s_own_midnight(make_runtime, clock):
    rt = make_runtime()
    teams = rt.policies.teams
    teams["billing"] = teams["billing"].model_copy(update={"timezone": "Europe/London"})
    clock.set(datetime(2026, 11, 19, 23, 0, tzinfo=UTC))  # 07:00 in Shanghai, 23:00 in London
    open_complaint(rt, ref="c1")  # first response due at 23:20 UTC
    open_complaint(rt, ref="c2", category="billing")
    clock.set(datetime(2026, 11, 20, 2, 0, tzinfo=UTC))
    with Session(rt.engine) as session:
        days = {t.team: t for t in overview(session, MANAGER, rt, rt.clock.now(), HOUR)}
    assert days["complaints"].breached_today == 1  # since 16:00 UTC, Shanghai's midnight
    assert days["billing"].breached_today == 0  # it breached before London's midnight
    assert days["billing"].timezone == "Europe/London"
    assert days["billing"].on_time_today.decided == 0  # opened yesterday, in London
    assert days["complaints"].on_time_today.decided == 1


def test_workload_per_person_in_scope(make_runtime, clock):
    rt = make_runtime()
    first = open_complaint(rt, ref="c1")
    clock.advance(timedelta(minutes=1))
    second = open_complaint(rt, ref="c2", priority="routine")
    open_complaint(rt, ref="c3", category="billing")
    clock.advance(timedelta(minutes=16))  # first: past 75% of 20 minutes, at risk
    with Session(rt.engine) as session:
        loads = workload(session, SUPERVISOR_OF_COMPLAINTS, rt, rt.clock.now())
    members = set(rt.policies.teams["complaints"].members)
    assert {p.assignee for p in loads} <= members  # nobody of billing
    assert sum(p.open for p in loads) == 2
    by_case = {p.oldest_case_id: p for p in loads}
    assert by_case[first].at_risk == 1 and by_case[first].breached == 0
    clock.advance(timedelta(minutes=10))
    with Session(rt.engine) as session:
        loads = workload(session, SUPERVISOR_OF_COMPLAINTS, rt, rt.clock.now())
        billing = workload(session, MANAGER, rt, rt.clock.now(), team="billing")
    assert loads[0].breached == 1 and loads[0].oldest_case_id == first  # most pressed first
    assert [p.open for p in billing] == [1]
    assert second


def test_a_filters_counts_are_what_choosing_each_value_would_list(make_runtime, clock):
    rt = make_runtime()
    ids = [open_complaint(rt, ref=f"c{k}", priority=priority, category=category)
           for k, (priority, category) in enumerate([
               ("ordinary", None), ("urgent", None), ("urgent", "billing"),
               ("routine", "billing"), ("ordinary", "refund"), ("urgent", None)])]
    send(rt, ids[0], "acknowledge")
    send(rt, ids[1], "acknowledge")
    send(rt, ids[5], "resolve")
    send(rt, ids[5], "confirm")  # closed: counted nowhere; its follow-up opens
    for reader in (MANAGER, SUPERVISOR_OF_COMPLAINTS):
        for chosen in ({}, {"priority": "urgent"}, {"team": "billing", "stage": "assigned"},
                       {"priority": "ordinary", "stage": "in_progress", "team": "complaints"}):
            with Session(rt.engine) as session:
                counts = worklists.filter_counts(session, reader, chosen)
                for dimension in worklists.FACET_DIMENSIONS:
                    others = {d: v for d, v in chosen.items() if d != dimension}
                    listed = facets(session, reader, CaseFilter(open=True, **others))
                    # Each value's count: the open cases listed once it is chosen too.
                    assert counts[dimension] == getattr(listed, dimension), (chosen, dimension)
    with Session(rt.engine) as session:
        counts = worklists.filter_counts(session, MANAGER, {"priority": "urgent"})
    assert counts["priority"] == {"urgent": 2, "ordinary": 2, "normal": 1, "routine": 1}
    assert counts["team"] == {"billing": 1, "complaints": 1}


def test_facets_count_without_paging_and_within_scope(make_runtime, clock):
    rt = make_runtime()
    open_complaint(rt, ref="c1")
    open_complaint(rt, ref="c2", priority="urgent")
    open_complaint(rt, ref="c3", category="billing")
    with Session(rt.engine) as session:
        mine = facets(session, SUPERVISOR_OF_COMPLAINTS, CaseFilter())
        every = facets(session, MANAGER, CaseFilter(), now=rt.clock.now())
        urgent = facets(session, MANAGER, CaseFilter(priority="urgent"))
    assert mine.total == 2 and mine.team == {"complaints": 2}
    assert mine.priority == {"ordinary": 1, "urgent": 1}
    assert mine.process == {"complaint": 2} and mine.stage == {"assigned": 2}
    assert sum(mine.assignee.values()) == 2
    assert every.total == 3 and every.team == {"complaints": 2, "billing": 1}
    assert urgent.total == 1
