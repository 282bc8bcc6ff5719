"""Policy loading: every shipped file loads, and each kind of mistake names file and field."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import time, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ConfigDict

from core import policy_loader
from core.policy_loader import SECTIONS, PolicyError, build_calendars, load_policies
from domain.catalogue import definitions
from domain.policy import Duration, PolicySet
from tests.unit.builders import SHIPPED_POLICIES, hours, sh


def copy_policies(target: Path) -> Path:
    target.mkdir()
    for source in SHIPPED_POLICIES.glob("*.yaml"):
        shutil.copy(source, target / source.name)
    return target


def edit(directory: Path, filename: str, change: Callable[[dict[str, Any]], object]) -> None:
    path = directory / filename
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def error_for(directory: Path) -> str:
    with pytest.raises(PolicyError) as refused:
        load_policies(directory)
    return str(refused.value)


# --- the shipped files --------------------------------------------------------------------

def test_every_shipped_policy_file_is_known_and_loads() -> None:
    process_files = {process.POLICY_FILE: (name,) for name, process in definitions().items()
                     if hasattr(process, "POLICY_FILE")}
    known = {**SECTIONS, **process_files}
    shipped = sorted(p.name for p in SHIPPED_POLICIES.glob("*.yaml"))
    assert shipped == sorted(known)
    for name in shipped:
        data = yaml.safe_load((SHIPPED_POLICIES / name).read_text(encoding="utf-8"))
        assert set(data) <= set(known[name])
    policies = load_policies(SHIPPED_POLICIES)
    assert set(policies.processes) == {name for (name,) in process_files.values()}
    assert set(policies.calendars) == {"24x7", "cn-working-hours", "store-hours",
                                       "service-centre-hours"}
    assert set(policies.teams) == {"complaints", "billing"}
    assert policies.complaint.priorities == ["urgent", "ordinary", "routine", "recovery"]
    assert policies.complaint.clocks["first_response"].targets == {
        "urgent": timedelta(minutes=10), "ordinary": timedelta(minutes=20), "routine": hours(2),
        "recovery": hours(4)}
    assert policies.complaint.clocks["resolution"].targets == {
        "urgent": hours(4), "ordinary": hours(24), "routine": hours(72), "recovery": hours(24)}
    assert policies.complaint.auto_close_after == timedelta(days=3)
    assert len(policies.version) == 12


def test_the_version_follows_the_content(tmp_path: Path) -> None:
    shipped = load_policies(SHIPPED_POLICIES).version
    copy = copy_policies(tmp_path / "p")
    assert load_policies(copy).version == shipped
    edit(copy, "complaint.yaml", lambda d: d["complaint"].update(auto_close_after="P5D"))
    changed = load_policies(copy)
    assert changed.version != shipped
    assert changed.complaint.auto_close_after == timedelta(days=5)


def test_build_calendars_from_the_shipped_policies() -> None:
    cals = build_calendars(load_policies(SHIPPED_POLICIES))
    assert cals["24x7"].always_open
    working = cals["cn-working-hours"]
    assert working.intervals == ((time(9), time(12)), (time(13), time(18)))
    assert working.workdays == frozenset({0, 1, 2, 3, 4})
    assert (working.timezone, working.country) == ("Asia/Shanghai", "CN")


# --- one mistake per test -------------------------------------------------------------------

def test_unknown_key(tmp_path: Path) -> None:
    d = copy_policies(tmp_path / "p")
    edit(d, "complaint.yaml",
         lambda x: x["complaint"]["clocks"]["first_response"].update(colour="red"))
    message = error_for(d)
    assert str(d / "complaint.yaml") in message
    assert "complaint.clocks.first_response.colour" in message
    assert "Extra inputs are not permitted" in message


def test_unknown_top_level_key(tmp_path: Path) -> None:
    d = copy_policies(tmp_path / "p")
    edit(d, "teams.yaml", lambda x: x.update(calendars={}))
    message = error_for(d)
    assert str(d / "teams.yaml") in message
    assert "unknown top-level key(s) ['calendars']" in message


def test_bad_duration(tmp_path: Path) -> None:
    d = copy_policies(tmp_path / "p")
    edit(d, "complaint.yaml",
         lambda x: x["complaint"]["clocks"]["first_response"]["targets"].update(
             ordinary="20 minutes"))
    message = error_for(d)
    assert str(d / "complaint.yaml") in message
    assert "complaint.clocks.first_response.targets.ordinary" in message
    assert "'20 minutes' is not an ISO 8601 duration" in message


def test_duration_in_months(tmp_path: Path) -> None:
    d = copy_policies(tmp_path / "p")
    edit(d, "complaint.yaml", lambda x: x["complaint"].update(auto_close_after="P1M"))
    message = error_for(d)
    assert str(d / "complaint.yaml") in message
    assert "complaint.auto_close_after" in message
    assert "years or months" in message


@pytest.mark.parametrize("filename", sorted(SECTIONS))
def test_missing_file(tmp_path: Path, filename: str) -> None:
    d = copy_policies(tmp_path / "p")
    (d / filename).unlink()
    message = error_for(d)
    assert str(d / filename) in message
    assert "file is missing" in message
    for section in SECTIONS[filename]:
        assert section in message


def test_missing_directory(tmp_path: Path) -> None:
    assert "policies directory not found" in error_for(tmp_path / "nowhere")


def test_unknown_calendar_referenced_by_a_clock(tmp_path: Path) -> None:
    d = copy_policies(tmp_path / "p")
    edit(d, "complaint.yaml",
         lambda x: x["complaint"]["clocks"]["resolution"].update(calendar="cn-office"))
    message = error_for(d)
    assert str(d / "complaint.yaml") in message
    assert "complaint.clocks.resolution.calendar" in message
    assert "unknown calendar 'cn-office'" in message


def test_unknown_team_in_routing(tmp_path: Path) -> None:
    d = copy_policies(tmp_path / "p")
    edit(d, "complaint.yaml",
         lambda x: x["complaint"]["routing"]["by_category"].update(gift="gifts"))
    message = error_for(d)
    assert str(d / "complaint.yaml") in message
    assert "complaint.routing.by_category.gift" in message
    assert "unknown team 'gifts'" in message


def test_priority_missing_from_a_clocks_targets(tmp_path: Path) -> None:
    d = copy_policies(tmp_path / "p")
    edit(d, "complaint.yaml",
         lambda x: x["complaint"]["clocks"]["resolution"]["targets"].pop("routine"))
    message = error_for(d)
    assert str(d / "complaint.yaml") in message
    assert "clocks.resolution.targets" in message
    assert "missing ['routine']" in message


def test_invalid_yaml(tmp_path: Path) -> None:
    d = copy_policies(tmp_path / "p")
    (d / "calendars.yaml").write_text("calendars:\n  24x7: [unclosed\n", encoding="utf-8")
    message = error_for(d)
    assert str(d / "calendars.yaml") in message
    assert "not valid YAML" in message
    assert "line 2" in message


def test_a_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    d = copy_policies(tmp_path / "p")
    (d / "teams.yaml").write_text("# only a comment\n", encoding="utf-8")
    message = error_for(d)
    assert str(d / "teams.yaml") in message
    assert "expected a mapping" in message


def test_unknown_timezone(tmp_path: Path) -> None:
    d = copy_policies(tmp_path / "p")
    edit(d, "calendars.yaml",
         lambda x: x["calendars"]["cn-working-hours"].update(timezone="Mars/Olympus"))
    message = error_for(d)
    assert str(d / "calendars.yaml") in message
    assert "calendars.cn-working-hours.timezone" in message
    assert "unknown timezone 'Mars/Olympus'" in message


@pytest.mark.parametrize(("change", "field", "reason"), [
    ({"hours": [["18:00", "09:00"]]}, "calendars.cn-working-hours.hours",
     "ends before it starts"),
    ({"hours": []}, "calendars.cn-working-hours.hours", "hours is empty"),
    ({"holidays": "XX"}, "calendars.cn-working-hours.holidays", "no calendar for country 'XX'"),
    ({"workdays": ["monday"]}, "calendars.cn-working-hours.workdays.0", "Input should be"),
])
def test_bad_calendar_fields(tmp_path: Path, change: dict, field: str, reason: str) -> None:
    d = copy_policies(tmp_path / "p")
    edit(d, "calendars.yaml", lambda x: x["calendars"]["cn-working-hours"].update(change))
    message = error_for(d)
    assert str(d / "calendars.yaml") in message
    assert field in message
    assert reason in message


def test_bad_team_strategy(tmp_path: Path) -> None:
    d = copy_policies(tmp_path / "p")
    edit(d, "teams.yaml", lambda x: x["teams"]["billing"].update(strategy="random"))
    message = error_for(d)
    assert str(d / "teams.yaml") in message
    assert "teams.billing.strategy" in message


def test_an_empty_section_file_is_named(tmp_path: Path) -> None:
    d = copy_policies(tmp_path / "p")
    (d / "complaint.yaml").write_text("{}\n", encoding="utf-8")
    message = error_for(d)
    assert str(d / "complaint.yaml") in message


def test_working_hours_out_of_order_are_refused_or_sorted(tmp_path: Path) -> None:
    d = copy_policies(tmp_path / "p")
    edit(d, "calendars.yaml", lambda x: x["calendars"]["cn-working-hours"].update(
        hours=[["13:00", "18:00"], ["09:00", "12:00"]]))
    try:
        policies = load_policies(d)
    except PolicyError:
        return
    working = build_calendars(policies)["cn-working-hours"]
    assert working.add(sh(2026, 11, 23, 8, 0), hours(4)) == sh(2026, 11, 23, 14, 0)


def test_overlapping_working_hours_are_refused_or_merged(tmp_path: Path) -> None:
    d = copy_policies(tmp_path / "p")
    edit(d, "calendars.yaml", lambda x: x["calendars"]["cn-working-hours"].update(
        hours=[["09:00", "12:00"], ["11:00", "13:00"]]))
    try:
        policies = load_policies(d)
    except PolicyError:
        return
    working = build_calendars(policies)["cn-working-hours"]
    assert working.between(sh(2026, 11, 23, 8, 0), sh(2026, 11, 23, 14, 0)) == hours(4)


# --- a process that brings its own policy file ----------------------------------------------

class DemoPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    team: str
    within: Duration


def demo_problems(policies: PolicySet, path: Path) -> list[str]:
    team = policies.process_policy("demo", DemoPolicy).team
    if team in policies.teams:
        return []
    return [f"{path}: demo.team: unknown team {team!r}; known: {sorted(policies.teams)}"]


@pytest.fixture
def demo_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The shipped policies plus a `demo` process whose module brings `demo.yaml`."""
    demo = SimpleNamespace(NAME="demo", POLICY_FILE="demo.yaml", POLICY_MODEL=DemoPolicy,
                           policy_problems=demo_problems)
    monkeypatch.setattr(policy_loader, "definitions", lambda: {**definitions(), "demo": demo})
    directory = copy_policies(tmp_path / "policies")
    (directory / "demo.yaml").write_text("demo:\n  team: billing\n  within: PT2H\n")
    return directory


def test_a_process_policy_file_is_loaded_validated_and_versioned(demo_process: Path) -> None:
    policies = load_policies(demo_process)
    assert policies.process_policy("demo", DemoPolicy) == DemoPolicy(team="billing",
                                                                      within=hours(2))
    edit(demo_process, "demo.yaml", lambda data: data["demo"].update(within="PT3H"))
    assert load_policies(demo_process).version != policies.version
    with pytest.raises(LookupError, match="no policy for process 'nothing'"):
        policies.process_policy("nothing", DemoPolicy)
    with pytest.raises(TypeError, match="the demo policy is a DemoPolicy, not a PolicySet"):
        policies.process_policy("demo", PolicySet)


@pytest.mark.parametrize(("change", "reason"), [
    (lambda data: data["demo"].update(within="soon"), "demo.within"),
    (lambda data: data["demo"].update(colour="red"), "demo.colour: Extra inputs"),
    (lambda data: data["demo"].update(team="nobody"), "demo.team: unknown team 'nobody'"),
    (lambda data: data.update(other={}), "expected exactly one top-level key 'demo'"),
])
def test_a_bad_process_policy_file_is_named_with_its_field(
        demo_process: Path, change: Callable[[dict[str, Any]], object], reason: str) -> None:
    edit(demo_process, "demo.yaml", change)
    message = error_for(demo_process)
    assert f"{demo_process / 'demo.yaml'}: " in message
    assert reason in message


def test_a_missing_process_policy_file_is_named(demo_process: Path) -> None:
    (demo_process / "demo.yaml").unlink()
    assert "demo.yaml: file is missing (it holds the demo process's policy)" in error_for(
        demo_process)


def test_a_team_s_timezone_defaults_to_shanghai_and_must_be_known(tmp_path: Path) -> None:
    d = copy_policies(tmp_path / "p")
    assert load_policies(d).teams["billing"].timezone == "Asia/Shanghai"
    edit(d, "teams.yaml", lambda x: x["teams"]["billing"].update(timezone="Europe/London"))
    assert load_policies(d).teams["billing"].timezone == "Europe/London"
    edit(d, "teams.yaml", lambda x: x["teams"]["billing"].update(timezone="Mars/Olympus"))
    message = error_for(d)
    assert "teams.billing.timezone" in message and "Mars/Olympus" in message
