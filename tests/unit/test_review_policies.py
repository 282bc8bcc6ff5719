"""The review registry (policies/reviews.yaml): it loads, and each mistake names file and field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from core.policy_loader import load_policies
from domain.reviews.policy import Computes, Covers, PeriodKind, cron_problem
from tests.unit.builders import SHIPPED_POLICIES
from tests.unit.test_policies import copy_policies, edit, error_for


def test_the_shipped_registry_defines_the_catalogue_reviews() -> None:
    reviews = load_policies(SHIPPED_POLICIES).reviews
    assert {name: (r.computes, r.cron, r.timezone, r.period, r.covers)
            for name, r in reviews.items()} == {
        "daily-sla-digest": (Computes.sla_digest, "0 9 * * *", "Asia/Shanghai",
                             PeriodKind.day, Covers.previous),
        "weekly-complaint-review": (Computes.complaint_categories, "0 9 * * mon",
                                    "Asia/Shanghai", PeriodKind.week, Covers.previous),
        "monthly-satisfaction-review": (Computes.satisfaction, "0 9 1 * *", "Asia/Shanghai",
                                        PeriodKind.month, Covers.previous),
        "quarterly-service-evaluation": (Computes.service_quality, "0 9 1 1,4,7,10 *",
                                         "Asia/Shanghai", PeriodKind.quarter, Covers.previous),
        "quarterly-skill-assessment-reminder": (
            Computes.skill_assessment_reminder, "0 9 1 1,4,7,10 *", "Asia/Shanghai",
            PeriodKind.quarter, Covers.current),
        "daily-greetings": (Computes.greetings, "0 8 * * *", "Asia/Shanghai", PeriodKind.day,
                            Covers.current),
    }
    assert reviews["weekly-complaint-review"].findings == ["complaint_on_time_rate"]
    assert reviews["daily-greetings"].catch_up_within == timedelta(hours=12)


def _review(change: dict[str, Any]) -> Any:
    return lambda data: data["reviews"]["weekly-complaint-review"].update(change)


@pytest.mark.parametrize(("change", "field", "reason"), [
    ({"cron": "0 9 * *"}, "reviews.weekly-complaint-review.cron", "needs 5 fields"),
    ({"cron": "0 9 * * 1"}, "reviews.weekly-complaint-review.cron", "name weekdays"),
    ({"cron": "0 9 1 * mon"}, "reviews.weekly-complaint-review.cron", "not both"),
    ({"cron": "0 25 * * *"}, "reviews.weekly-complaint-review.cron", ""),
    ({"timezone": "Mars/Olympus"}, "reviews.weekly-complaint-review.timezone",
     "unknown timezone"),
    ({"computes": "horoscope"}, "reviews.weekly-complaint-review.computes", "Input should be"),
    ({"period": "fortnight"}, "reviews.weekly-complaint-review.period", "Input should be"),
    ({"findings": ["resolution_rate"]}, "reviews.weekly-complaint-review.findings",
     "not a KPI with a target"),
    ({"catch_up_within": "soon"}, "reviews.weekly-complaint-review.catch_up_within",
     "ISO 8601"),
    ({"colour": "red"}, "reviews.weekly-complaint-review.colour", "Extra inputs"),
], ids=["fields", "numeric-weekday", "day-and-weekday", "hour-25", "timezone", "computes",
        "period", "kpi-without-target", "duration", "unknown-key"])
def test_a_bad_review_names_file_and_field(tmp_path: Path, change: dict, field: str,
                                            reason: str) -> None:
    d = copy_policies(tmp_path / "p")
    edit(d, "reviews.yaml", _review(change))
    message = error_for(d)
    assert str(d / "reviews.yaml") in message
    assert field in message
    assert reason in message


def test_a_review_name_must_fit_a_deployment_and_an_artifact_key(tmp_path: Path) -> None:
    d = copy_policies(tmp_path / "p")
    edit(d, "reviews.yaml", lambda x: x["reviews"].update(
        {"Weekly Review": x["reviews"]["weekly-complaint-review"]}))
    message = error_for(d)
    assert str(d / "reviews.yaml") in message and "'Weekly Review'" in message


@pytest.mark.parametrize(("change", "field", "reason"), [
    ({"birthday": {"subject": "Hi {nickname}", "body": "x"}}, "greetings.birthday.subject",
     "unknown placeholder"),
    ({"holidays": "XX"}, "greetings.holidays", "no calendar for country 'XX'"),
    ({"customer_channels": {"fax": "fax://{fax}"}}, "greetings.customer_channels",
     "unknown contact 'fax'"),
    ({"customer_channels": {"email": "mailto://smtp.example.com"}},
     "greetings.customer_channels", "must use {email}"),
])
def test_bad_greetings_name_file_and_field(tmp_path: Path, change: dict, field: str,
                                           reason: str) -> None:
    d = copy_policies(tmp_path / "p")
    edit(d, "reviews.yaml", lambda x: x["greetings"].update(change))
    message = error_for(d)
    assert str(d / "reviews.yaml") in message
    assert field in message and reason in message


def test_cron_problem_accepts_what_both_schedulers_read_alike() -> None:
    for good in ("0 9 * * *", "30 8 * * mon-fri", "0 9 1 1,4,7,10 *", "*/15 * * * sat,sun"):
        assert cron_problem(good) is None, good
    assert "name weekdays" in (cron_problem("0 9 * * 0") or "")
    assert "name weekdays" in (cron_problem("0 9 * * 1-5") or "")


def test_free_text_stays_inside_its_markdown_cell():
    from domain.reviews.reports import markdown_table

    table = markdown_table([{"category": "late\ndelivery | box", "cases": 2}])
    assert table.count("\n") == 2  # header, rule, one row
    assert "late delivery \\| box" in table
