"""The crisis policy: the catalogue's defaults, and a bad file named with its field."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from core.policy_loader import load_policies
from domain.crisis import rules as crisis
from tests.unit.builders import SHIPPED_POLICIES, hours, minutes
from tests.unit.test_policies import copy_policies, edit, error_for


def test_the_shipped_crisis_policy_holds_the_catalogue_s_defaults():
    policy = crisis.policy_of(load_policies(SHIPPED_POLICIES))
    targets = {name: (t.team_within, t.first_notice_within, t.update_every)
               for name, t in policy.severities.items()}
    assert targets == {"S1": (minutes(15), hours(1), minutes(30)),
                       "S2": (minutes(30), hours(4), hours(2)),
                       "S3": (hours(4), hours(24), timedelta(days=1)),
                       "S4": (timedelta(days=1), None, timedelta(days=2))}
    # Five working days of the 8-hour working-hours calendar, from the resolution.
    assert (policy.review_within, policy.review_calendar) == (hours(40), "cn-working-hours")
    assert set(policy.channels) == {"website", "cs_script", "social_media", "internal"}
    assert not policy.channels["internal"].public
    assert (policy.spike.count, policy.spike.window) == (20, hours(1))


@pytest.mark.parametrize(("change", "reason"), [
    (lambda c: c["matrix"]["likely"].update(severe="S0"), "unknown severity ['S0']"),
    (lambda c: c["matrix"].pop("likely"), "one row per likelihood"),
    (lambda c: c["severities"].pop("S4"), "severities must name exactly"),
    (lambda c: c["severities"]["S1"].update(update_every="soon"),
     "crisis.severities.S1.update_every"),
    (lambda c: c["channels"]["website"].update(body="{weather}"),
     "crisis.channels.website.body"),
    (lambda c: c["channels"].update(radio=c["channels"]["website"]), "unknown channel"),
    (lambda c: c["compensation"].update(kinds=["cash"]), "crisis.compensation.kinds"),
    (lambda c: c.update(calendar="moon"), "crisis.calendar: unknown calendar 'moon'"),
    (lambda c: c.update(default_team="nobody"), "crisis.default_team: unknown team"),
    (lambda c: c["spike"].update(count=1), "crisis.spike.count"),
])
def test_a_bad_crisis_policy_stops_start_up_naming_the_file_and_field(
        tmp_path: Path, change: Callable[[dict[str, Any]], object], reason: str) -> None:
    directory = copy_policies(tmp_path / "policies")
    edit(directory, "crisis.yaml", lambda data: change(data["crisis"]))
    message = error_for(directory)
    assert f"{directory / 'crisis.yaml'}: " in message
    assert reason in message
