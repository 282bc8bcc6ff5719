"""One time convention in answers: every moment in UTC with `Z`, every duration ISO 8601,
whatever offset the moment was given or kept with (docs/api.md, "Times and durations")."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from api.times import utc_json, utc_text
from tests.api.helpers import clock_named, open_case, post_event
from tests.support import bearer, issue_key, shanghai

MOMENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")
DURATION = re.compile(r"-?P(\d+D)?(T(\d+H)?(\d+M)?([\d.]+S)?)?")


def strings(value: Any) -> list[str]:
    """Every string in a JSON answer, keys aside."""
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return [value] if isinstance(value, str) else []


def assert_moments_in_utc(answer: Any) -> list[str]:
    moments = [s for s in strings(answer) if MOMENT.match(s)]
    assert moments
    for moment in moments:
        assert moment.endswith("Z") and "+" not in moment, moment
    return moments


def test_utc_text_and_utc_json():
    eight = timezone(timedelta(hours=8))
    assert utc_text(datetime(2026, 11, 20, 10, 0, tzinfo=eight)) == "2026-11-20T02:00:00Z"
    assert utc_text(datetime(2026, 11, 20, 2, 0, 0, 500)) == "2026-11-20T02:00:00.000500Z"
    assert utc_text(datetime(2026, 11, 20, 2, 0, tzinfo=UTC)) == "2026-11-20T02:00:00Z"
    kept = {"slot": "2026-11-21T15:00:00+08:00", "at": "2026-11-21T07:00:00+00:00",
            "list": [{"due": "2026-11-21T07:00Z"}], "window": timedelta(minutes=20),
            "moment": datetime(2026, 11, 21, 15, 0, tzinfo=eight)}
    assert utc_json(kept) == {"slot": "2026-11-21T07:00:00Z", "at": "2026-11-21T07:00:00Z",
                              "list": [{"due": "2026-11-21T07:00:00Z"}], "window": "PT20M",
                              "moment": "2026-11-21T07:00:00Z"}
    # Only moments: no date alone, no time of day, no text that merely starts like one.
    for other in ("2026-11-21", "10:30:00", "PT20M", "2026-11-21T15:00:00",
                  "2026-11-21T15:00:00+08:00 or later", "2026-13-45T99:00:00+08:00", 7, None):
        assert utc_json(other) == other


def test_a_case_answer_gives_moments_in_utc_and_durations_in_iso_8601(client, clock):
    clock.set(shanghai(2026, 11, 20, 10, 0))
    case = open_case(client, priority="ordinary")
    assert case["opened_at"] == "2026-11-20T02:00:00Z"
    assert_moments_in_utc(case)
    first_response = clock_named(case, "first_response")
    assert first_response["target"] == "PT20M"  # ordinary, in complaint.yaml
    opened = next(e for e in case["timeline"] if e["type"] == "opened")
    # The timeline says the targets as the clocks do.
    assert opened["details"]["targets"] == {c["name"]: c["target"] for c in case["clocks"]}
    for clock_answer in case["clocks"]:
        assert DURATION.fullmatch(clock_answer["remaining"]), clock_answer["remaining"]
    clock.advance(timedelta(minutes=30))
    late = client.get(f"/cases/{case['id']}").json()
    assert clock_named(late, "first_response")["remaining"].startswith("-PT")
    assert_moments_in_utc(late)


def test_a_booking_given_in_local_time_is_answered_in_utc(client, clock):
    clock.set(shanghai(2026, 11, 20, 10, 0))
    booked = client.post("/service-requests", json={
        "customer": {"name": "Lin", "phone": "13812345678"}, "location": "xuhui-store",
        "channel": "web", "service": "repair", "slot": "2026-11-21T15:00:00+08:00"})
    assert booked.status_code == 201, booked.text
    answer = booked.json()
    assert answer["booking"]["slot"] == "2026-11-21T07:00:00Z"
    assert answer["booking"]["booked_at"] == "2026-11-20T02:00:00Z"
    assert_moments_in_utc(answer)
    assert post_event(client, answer["id"], "accept").status_code == 200
    slots = client.get("/locations/xuhui-store/slots", params={"day": "2026-11-21"}).json()
    assert slots[0]["starts_at"].endswith("Z")
    [location] = [loc for loc in client.get("/locations").json() if loc["key"] == "xuhui-store"]
    assert DURATION.fullmatch(location["slot_length"])


def test_reviews_and_their_reports_answer_in_utc(client, clock, runtime):
    clock.set(shanghai(2026, 11, 20, 10, 0))
    open_case(client)
    scheduler = bearer(issue_key(runtime, "scheduler", kind="integration"))
    run = client.post("/reviews/daily-sla-digest/runs", headers=scheduler).json()["run"]
    report = client.get(f"/reports/runs/{run['id']}",
                        headers=bearer(issue_key(runtime, "manager"))).json()
    # The day of 19 November in Shanghai, which the review covers, given in UTC.
    assert report["result"]["period"]["start"] == "2026-11-18T16:00:00Z"
    assert report["result"]["period"]["timezone"] == "Asia/Shanghai"
    assert_moments_in_utc(report)
    reviews = client.get("/reports/reviews").json()
    assert_moments_in_utc(reviews)
    trend = client.get("/reports/trends", params={"bucket": "day"}).json()
    assert all(point["start"].endswith("Z") for point in trend["points"])
