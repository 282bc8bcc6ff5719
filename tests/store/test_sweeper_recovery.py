"""Crashes, leases, retries and digests: nothing acknowledged is lost, nothing fires twice."""

import contextlib
from datetime import timedelta

from sqlmodel import Session, select

from domain.digest import LINES_IN_FULL
from engine.claims import claim_due
from engine.escalations import fire_timer
from engine.models import OutboxMessage, Timer
from engine.sweeper import InlineRunner, Sweeper
from tests.conftest import sweep
from tests.store.helpers import escalations, open_complaint


def _claim_all(rt, instance):
    return claim_due(rt.engine, Timer, due_column="fire_at", now=rt.clock.now(), limit=100,
                     instance=instance, lease=rt.lease)


def test_a_claim_whose_holder_died_is_taken_over_after_the_lease(make_runtime, clock):
    rt = make_runtime(claim_lease_seconds=30)
    case_id = open_complaint(rt)
    clock.advance(timedelta(minutes=16))
    claimed = _claim_all(rt, "crashed-instance")  # claimed, then the instance died
    assert len(claimed) == 1
    sweep(rt)
    assert escalations(rt, case_id) == []  # still leased to the dead instance
    clock.advance(timedelta(seconds=31))
    sweep(rt)
    assert escalations(rt, case_id) == [("first_response", "warning")]
    # The late holder wakes up: its claim is gone, so its work is a no-op.
    rt.settings.instance_id = "crashed-instance"
    assert fire_timer(rt, claimed[0][0]) == "skipped"
    assert escalations(rt, case_id) == [("first_response", "warning")]


def test_two_instances_never_claim_the_same_timer(make_runtime, clock):
    rt = make_runtime()
    for n in range(20):
        open_complaint(rt, ref=f"c{n}")
    clock.advance(timedelta(minutes=16))
    first = {row[0] for row in _claim_all(rt, "a")}
    second = {row[0] for row in _claim_all(rt, "b")}
    assert len(first) == 20 and second == set()


def test_failed_delivery_is_retried_until_it_lands(make_runtime, clock, receiver):
    rt = make_runtime(receiver=receiver)
    open_complaint(rt)
    clock.advance(timedelta(minutes=15))
    receiver.fail_next = 1
    report = sweep(rt)
    assert report.messages.get("retrying") == 1 and receiver.all() == []
    sweep(rt)  # not yet: the retry waits for its backoff
    assert receiver.all() == []
    clock.advance(timedelta(seconds=61))
    sweep(rt)
    assert len(receiver.all()) == 1
    with Session(rt.engine) as session:
        message = session.exec(select(OutboxMessage)).one()
    assert message.status == "delivered" and message.attempts == 1


def test_a_storm_reaches_each_recipient_in_one_digest(make_runtime, clock, receiver):
    rt = make_runtime(receiver=receiver)
    for n in range(60):
        open_complaint(rt, ref=f"c{n}")
    clock.advance(timedelta(minutes=20))  # warnings and breaches of all 60 due at once
    sweep(rt)
    [supervisor_post] = receiver.for_person("wang.fang")
    assert supervisor_post.body["title"].split(" / ") == [
        "Caseflow：60 条升级需要您处理", "Caseflow: 60 escalations need your attention"]
    body = supervisor_post.body["message"]
    assert "本摘要涵盖 60 个工单的 60 条通知" in body and "/console/queue" in body
    assert body.count("\n1. ") == 1 and f"\n{LINES_IN_FULL}. " in body
    assert f"\n{LINES_IN_FULL + 1}. " not in body  # the rest are in the queue
    # Only the lines shown travel as keys: a storm's thousands would not fit in a header.
    assert len(supervisor_post.keys) == LINES_IN_FULL
    # Three agents share the 60 cases; each gets one digest of their warnings and breaches.
    agents = [p for p in ("li.wei", "zhang.min", "chen.jing")]
    assert [len(receiver.for_person(a)) for a in agents] == [1, 1, 1]
    assert {m.status for m in _all_messages(rt)} == {"delivered"}


def test_a_stopping_sweeper_claims_nothing_more(make_runtime, clock):
    rt = make_runtime()
    case_id = open_complaint(rt)
    clock.advance(timedelta(minutes=16))
    sweeper = Sweeper(rt, InlineRunner(rt))
    sweeper.stop()
    assert sweeper.tick().timers == {}
    assert escalations(rt, case_id) == []  # still due: the next start fires it


def test_a_storm_bigger_than_a_batch_is_still_in_few_digests(make_runtime, clock, receiver):
    rt = make_runtime(receiver=receiver, sweep_batch_size=10)  # 180 messages, 18 batches
    for n in range(60):
        open_complaint(rt, ref=f"c{n}")
    clock.advance(timedelta(minutes=20))
    assert sweep(rt).messages["delivered"] == 180
    assert len(receiver.for_person("wang.fang")) == 1  # 60 breaches in one digest
    assert [len(receiver.for_person(a)) for a in ("li.wei", "zhang.min", "chen.jing")] == [
        1, 1, 1]


def test_sending_stops_at_half_the_lease_and_the_rest_waits_for_the_next_tick(
        make_runtime, clock, receiver):
    rt = make_runtime(receiver=receiver, claim_lease_seconds=60)
    for n in range(3):
        open_complaint(rt, ref=f"c{n}")
    clock.advance(timedelta(minutes=20))
    send = rt.notifier.send

    def slow_send(**kwargs):  # type: ignore[no-untyped-def]
        clock.advance(timedelta(seconds=31))  # one slow receiver uses half the lease
        return send(**kwargs)

    rt.notifier.send = slow_send  # type: ignore[method-assign]
    first = sweep(rt).messages
    assert first["digests"] == 1 and first["released"] > 0
    with Session(rt.engine) as session:
        statuses = {m.status for m in session.exec(select(OutboxMessage))}
    assert statuses == {"delivered", "pending"}  # released, not left claimed
    rt.notifier.send = send  # type: ignore[method-assign]
    second = sweep(rt).messages
    assert second["delivered"] == first["released"]
    keys = {m.key for m in _all_messages(rt)}
    assert sorted(receiver.keys()) == sorted(keys)  # each once, none lost


def _all_messages(rt):  # type: ignore[no-untyped-def]
    with Session(rt.engine) as session:
        return list(session.exec(select(OutboxMessage)))


class Killed(BaseException):
    """The process killed (kill -9) between a send and its record: nothing after runs."""


def test_a_kill_mid_storm_resends_one_digest_a_receiver_drops_by_its_key(
        make_runtime, clock, receiver):
    rt = make_runtime(receiver=receiver, claim_lease_seconds=60)
    for n in range(60):
        open_complaint(rt, ref=f"c{n}")
    clock.advance(timedelta(minutes=20))  # 180 messages; wang.fang's 60 breaches
    send = rt.notifier.send

    def send_then_die(**kwargs):  # type: ignore[no-untyped-def]
        delivery = send(**kwargs)
        if kwargs["recipient"] == "wang.fang":
            raise Killed  # sent, not yet marked delivered
        return delivery

    rt.notifier.send = send_then_die  # type: ignore[method-assign]
    with contextlib.suppress(Killed):
        sweep(rt)
    rt.notifier.send = send  # type: ignore[method-assign]
    clock.advance(timedelta(seconds=61))  # the dead sweeper's claims lapse
    sweep(rt)
    # The one digest sent before the kill is sent again, whole, and nothing else twice.
    posts = receiver.for_person("wang.fang")
    assert len(posts) == 2 and posts[0].body == posts[1].body
    assert posts[0].headers["Idempotency-Key"] == posts[1].headers["Idempotency-Key"]
    assert "60 escalations" in posts[0].body["title"]  # before: a post of 50 lines each
    assert all(len(receiver.for_person(a)) == 1 for a in ("li.wei", "zhang.min", "chen.jing"))
    assert {m.status for m in _all_messages(rt)} == {"delivered"}  # none lost


def test_the_sweeper_sleeps_until_the_next_timer_falls_due_and_no_longer_than_its_interval(
        make_runtime, clock):
    from core.scheduler import MIN_PAUSE_SECONDS, SweepScheduler

    rt = make_runtime()
    scheduler = SweepScheduler(rt)  # not started: only its arithmetic is used
    assert scheduler._until_next_due(1.0, fired=False) == 1.0  # nothing pending
    open_complaint(rt)  # its first timer: the warning, 15 minutes on
    clock.advance(timedelta(minutes=15) - timedelta(seconds=0.3))
    assert scheduler._until_next_due(1.0, fired=False) == 0.3
    clock.advance(timedelta(seconds=0.3))
    # Due already: at once if the tick fired something (this fell due meanwhile), else
    # another sweeper's claim holds it, and it waits the interval.
    assert scheduler._until_next_due(1.0, fired=True) == MIN_PAUSE_SECONDS
    assert scheduler._until_next_due(1.0, fired=False) == 1.0
