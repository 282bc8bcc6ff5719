"""`caseflow keys`: an admin creates, lists and revokes keys from the command line."""

import os
import subprocess
import sys

from tests.support import REPO


def _caseflow(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    env = {**os.environ, "CASEFLOW_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "caseflow.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def test_keys_are_created_listed_and_revoked_from_the_command_line(tmp_path):
    created = _caseflow(tmp_path, "keys", "create", "--name", "hotline", "--integration",
                        "--role", "agent", "--team", "complaints", "--expires-in", "P90D")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("cf_") and "shown this once" in created.stderr
    listed = _caseflow(tmp_path, "keys", "list")
    assert "hotline" in listed.stdout and "integration" in listed.stdout
    assert key[:11] in listed.stdout and key not in listed.stdout
    assert "expires" in listed.stdout
    revoked = _caseflow(tmp_path, "keys", "revoke", "1")
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    assert "hotline" not in _caseflow(tmp_path, "keys", "list").stdout
    assert "revoked" in _caseflow(tmp_path, "keys", "list", "--all").stdout
    assert key not in revoked.stderr + listed.stderr


def test_a_key_the_cli_cannot_create_exits_2_saying_why(tmp_path):
    refused = _caseflow(tmp_path, "keys", "create", "--name", "x", "--role", "agent",
                        "--team", "nowhere")
    assert refused.returncode == 2
    assert "teams: unknown team(s) ['nowhere']" in refused.stderr
    assert _caseflow(tmp_path, "keys", "revoke", "42").returncode == 2
    bad_role = _caseflow(tmp_path, "keys", "create", "--name", "x", "--role", "customer")
    assert bad_role.returncode == 2 and "invalid choice" in bad_role.stderr
