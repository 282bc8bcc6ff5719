"""The follow-up policy (followup.yaml): shipped values, and mistakes named by file and field."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.policy_loader import load_policies
from domain.policy import Tier
from tests.unit.builders import SHIPPED_POLICIES
from tests.unit.test_policies import copy_policies, edit, error_for


def test_the_shipped_follow_up_policy_holds_the_catalogue_s_defaults() -> None:
    policy = load_policies(SHIPPED_POLICIES).followup
    assert policy.after == {"complaint": ["confirm", "auto_close"],
                            "service_request": ["complete"]}
    assert (policy.survey_after, policy.reminder_after, policy.call_after) == (
        timedelta(hours=24), timedelta(days=2), timedelta(days=5))
    assert policy.always_call_tiers == [Tier.A, Tier.VIP]
    assert policy.quiet_hours is not None
    assert (policy.quiet_hours.start, policy.quiet_hours.end) == (time(21), time(9))
    assert (policy.low_score.csat_at_most, policy.low_score.nps_at_most) == (2, 6)
    assert (policy.call.due_within, policy.call.max_attempts) == (timedelta(hours=8), 3)
    assert policy.recovery_priority == "recovery"
    assert policy.once_per == timedelta(days=30)


@pytest.mark.parametrize(("change", "field", "reason"), [
    ({"call": {"calendar": "cn-office"}}, "followup.call.calendar", "unknown calendar"),
    ({"recovery_priority": "soonish"}, "followup.recovery_priority",
     "is not a complaint priority"),
    ({"after": {"complaint": ["resolve"]}}, "followup.after.complaint",
     "'resolve' does not close a complaint"),
    ({"after": {"shipping": ["deliver"]}}, "followup.after.shipping", "unknown process"),
    ({"reminder_after": "P6D"}, "followup", "reminder_after must come before call_after"),
    ({"survey": {"subject": "Hi {customer}"}}, "followup.survey.subject",
     "unknown placeholder(s) ['customer']"),
    ({"low_score": {"csat_at_most": 6, "nps_at_most": 6}}, "followup.low_score.csat_at_most",
     "less than or equal to 5"),
    ({"quiet_hours": {"start": "21:00", "end": "21:00"}}, "followup.quiet_hours",
     "start and end are equal"),
    ({"surveys_per_year": 4}, "followup.surveys_per_year", "Extra inputs"),
])
def test_a_bad_follow_up_policy_names_file_field_and_reason(
        tmp_path: Path, change: dict[str, Any], field: str, reason: str) -> None:
    d = copy_policies(tmp_path / "p")

    def apply(data: dict[str, Any]) -> None:
        for key, value in change.items():
            current = data["followup"].get(key)
            data["followup"][key] = {**current, **value} if isinstance(current, dict) and \
                key != "after" else value

    edit(d, "followup.yaml", apply)
    message = error_for(d)
    assert str(d / "followup.yaml") in message
    assert field in message and reason in message, message
