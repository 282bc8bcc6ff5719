"""Start-up refuses bad inputs; prefect.yaml points at real flows with timezoned schedules."""

import importlib
import subprocess
import sys

import yaml
from prefect import Flow

from tests.support import REPO, write_policies


def _serve(policies, tmp_path):
    env = {"CASEFLOW_POLICIES": str(policies), "CASEFLOW_DATA_DIR": str(tmp_path / "data"),
           "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "caseflow.cli", "serve"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def test_a_bad_policy_file_stops_start_up_naming_file_and_field(tmp_path):
    policies = write_policies(tmp_path / "policies")
    text = (policies / "complaint.yaml").read_text()
    (policies / "complaint.yaml").write_text(text.replace("auto_close_after: P3D",
                                                          "auto_close_after: three days"))
    result = _serve(policies, tmp_path)
    assert result.returncode == 2
    assert "complaint.yaml" in result.stderr
    assert "complaint.auto_close_after" in result.stderr
    assert "ISO 8601" in result.stderr


def test_an_unknown_key_stops_start_up(tmp_path):
    policies = write_policies(tmp_path / "policies")
    text = (policies / "calendars.yaml").read_text()
    (policies / "calendars.yaml").write_text(text.replace("workdays:", "work_days:"))
    result = _serve(policies, tmp_path)
    assert result.returncode == 2
    assert "calendars.yaml: calendars.cn-working-hours.work_days" in result.stderr


def test_a_team_language_we_do_not_write_stops_start_up(tmp_path):
    policies = write_policies(tmp_path / "policies")
    teams = yaml.safe_load((policies / "teams.yaml").read_text())
    teams["teams"]["billing"]["language"] = "fr"
    (policies / "teams.yaml").write_text(yaml.safe_dump(teams, allow_unicode=True))
    result = _serve(policies, tmp_path)
    assert result.returncode == 2
    assert "teams.yaml" in result.stderr and "teams.billing.language" in result.stderr
    assert "unknown language 'fr'; use one of zh-Hans, en" in result.stderr
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())


def test_a_missing_policies_directory_stops_start_up(tmp_path):
    result = _serve(tmp_path / "nowhere", tmp_path)
    assert result.returncode == 2 and "CASEFLOW_POLICIES" in result.stderr


def test_prefect_yaml_deploys_real_flows_with_timezoned_schedules():
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    assert spec["deployments"]
    for deployment in spec["deployments"]:
        path, name = deployment["entrypoint"].split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        assert isinstance(getattr(module, name), Flow), deployment["name"]
        for schedule in deployment.get("schedules", []):
            assert schedule.get("timezone"), deployment["name"]


def test_a_bad_setting_stops_start_up_without_echoing_secrets(tmp_path):
    base = {"CASEFLOW_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin",
            "CASEFLOW_DATABASE_URL": "postgresql://caseflow:hunter2-secret@db.internal/cf"}
    for bad, says in [({"CASEFLOW_PORT": "eighty"}, "CASEFLOW_PORT: Input should be a valid "
                                                   "integer"),
                      ({"CASEFLOW_OIDC_ISSUER": "https://id.test"}, "CASEFLOW_OIDC_AUDIENCE")]:
        result = subprocess.run([sys.executable, "-m", "caseflow.cli", "serve"], cwd=REPO,
                                env={**base, **bad}, capture_output=True, text=True, timeout=60)
        assert result.returncode == 2
        assert says in result.stderr
        assert "hunter2" not in result.stderr + result.stdout


FREEZE_PROBE = """
import gc, sys
from pathlib import Path
from fastapi.testclient import TestClient
from api.app import create_app
from core.settings import Settings

data = Path(sys.argv[1])
settings = Settings(data_dir=data, database_url=f"sqlite:///{data}/caseflow.db",
                    policies=Path(sys.argv[2]), scheduler_enabled=False, flow_runner="inline")
before = gc.get_freeze_count()
with TestClient(create_app(settings)) as client:
    assert client.get("/health").status_code == 200
    print(before, gc.get_freeze_count())
"""


def test_start_up_puts_what_it_loaded_out_of_the_collectors_full_passes(tmp_path):
    # Else each full pass walks them all: 90 to 280 ms with the process answering nothing.
    policies = write_policies(tmp_path / "policies")
    result = subprocess.run([sys.executable, "-c", FREEZE_PROBE, str(tmp_path / "data"),
                             str(policies)], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    before, frozen = map(int, result.stdout.split()[-2:])
    assert before == 0 and frozen > 100_000


def test_a_start_at_another_speed_than_the_store_s_clock_is_refused_plainly(tmp_path):
    from engine.clock_epoch import shared_clock
    from engine.db import make_engine, migrate

    url = f"sqlite:///{tmp_path / 'caseflow.db'}"
    engine = make_engine(url)
    migrate(engine)
    shared_clock(engine, 60)  # an instance at speed 60 started the store's fast clock
    engine.dispose()
    env = {"CASEFLOW_POLICIES": str(write_policies(tmp_path / "policies")),
           "CASEFLOW_DATA_DIR": str(tmp_path / "data"), "CASEFLOW_DATABASE_URL": url,
           "CASEFLOW_CLOCK_SPEED": "30", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "caseflow.cli", "serve"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith(
        "caseflow: refusing to start: CASEFLOW_CLOCK_SPEED is 30, but this store's clock "
        "has run at 60x since ")
    assert "CASEFLOW_CLOCK_SPEED=60" in result.stderr
