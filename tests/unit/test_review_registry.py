"""One registry of reviews: prefect.yaml's review deployments are exactly what it generates."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from prefect.client.schemas.schedules import CronSchedule

from core.policy_loader import load_policies
from processes.reviews.deployments import (
    ENTRYPOINT,
    deployment_name,
    differences,
    main,
    render,
)
from tests.support import REPO, SHIPPED_POLICIES
from tests.unit.test_policies import copy_policies, edit


def _review_deployments() -> dict[str, dict]:
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    return {d["name"]: d for d in spec["deployments"] if "reviews" in d.get("tags", [])}


def test_prefect_yaml_matches_the_registry() -> None:
    assert differences() == [], "run `python -m processes.reviews.deployments write`"
    assert main(["check"]) == 0


def test_each_review_is_one_deployment_with_the_registrys_schedule() -> None:
    reviews = load_policies(SHIPPED_POLICIES).reviews
    deployments = _review_deployments()
    assert set(deployments) == {deployment_name(name) for name in reviews}
    for name, review in reviews.items():
        deployment = deployments[deployment_name(name)]
        assert deployment["entrypoint"] == ENTRYPOINT
        assert deployment["parameters"] == {"review": name}
        assert deployment["schedules"] == [{"cron": review.cron, "timezone": review.timezone}]
        assert deployment["work_pool"]["name"] == "caseflow"
        # Prefect itself accepts the schedule as it is written.
        CronSchedule(**deployment["schedules"][0])


def test_a_changed_registry_is_caught_and_written(tmp_path: Path) -> None:
    policies = copy_policies(tmp_path / "policies")
    edit(policies, "reviews.yaml",
         lambda x: x["reviews"]["daily-sla-digest"].update(cron="30 8 * * *"))
    prefect_yaml = tmp_path / "prefect.yaml"
    shutil.copy(REPO / "prefect.yaml", prefect_yaml)
    diff = differences(prefect_yaml, policies)
    assert '-      cron: "0 9 * * *"' in diff and '+      cron: "30 8 * * *"' in diff
    prefect_yaml.write_text(render(prefect_yaml.read_text(), load_policies(policies).reviews))
    assert differences(prefect_yaml, policies) == []
    rest = [line for line in prefect_yaml.read_text().splitlines() if "30 8" not in line]
    original = [line for line in (REPO / "prefect.yaml").read_text().splitlines()
                if '"0 9 * * *"' not in line]
    assert rest == original  # only the generated lines changed


def test_a_prefect_yaml_without_the_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="lacks the markers of the review schedules block"):
        render("name: caseflow\n", load_policies(SHIPPED_POLICIES).reviews)


def test_the_command_refuses_unknown_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy"]) == 2
    assert "python -m processes.reviews.deployments write" in capsys.readouterr().err
