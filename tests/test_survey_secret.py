"""The survey-link secret: from the environment, else generated once under the data dir."""

from __future__ import annotations

import logging
import stat

import pytest

from core.redaction import redact
from core.settings import Settings
from processes.followup.survey_links import SECRET_FILE, resolve_secret, survey_link
from tests.conftest import build_runtime
from tests.support import write_policies


def test_the_first_start_generates_a_private_secret_and_later_starts_reuse_it(
        sqlite_database, clock, tmp_path, caplog):
    data = tmp_path / "data"
    with caplog.at_level(logging.INFO):
        rt = build_runtime(sqlite_database, write_policies(tmp_path / "p"), clock,
                           survey_secret=None, data_dir=data)
    path = data / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert rt.survey_secret == path.read_text().strip().encode()
    assert len(rt.survey_secret) >= 32
    assert str(path) in caplog.text
    assert rt.survey_secret.decode() not in caplog.text + repr(rt) + repr(rt.settings)
    again = build_runtime(sqlite_database, write_policies(tmp_path / "p"), clock,
                          survey_secret=None, data_dir=data)
    assert again.survey_secret == rt.survey_secret
    rt.engine.dispose()
    again.engine.dispose()


def test_the_environment_wins_and_no_file_is_written(tmp_path, monkeypatch):
    monkeypatch.setenv("CASEFLOW_SURVEY_SECRET", "s" * 40)
    settings = Settings(data_dir=tmp_path)
    assert resolve_secret(settings) == b"s" * 40
    assert not (tmp_path / SECRET_FILE).exists()
    assert "s" * 40 not in repr(settings)


def test_a_short_secret_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("CASEFLOW_SURVEY_SECRET", "too-short")
    with pytest.raises(ValueError, match="survey_secret"):
        Settings(data_dir=tmp_path)
    monkeypatch.delenv("CASEFLOW_SURVEY_SECRET")
    (tmp_path / SECRET_FILE).write_text("short\n")
    with pytest.raises(ValueError, match="at least 32"):
        resolve_secret(Settings(data_dir=tmp_path))


def test_survey_links_never_reach_the_log():
    from datetime import UTC, datetime

    link = survey_link("https://cs.example.com", b"k" * 32, "00" * 16,
                       datetime(2026, 12, 5, tzinfo=UTC))
    line = f'127.0.0.1:5000 - "GET {link.removeprefix("https://cs.example.com")} HTTP/1.1" 200'
    assert redact(line) == '127.0.0.1:5000 - "GET /s/*** HTTP/1.1" 200'
    assert redact(f"sent {link}") == "sent https://cs.example.com/s/***"
