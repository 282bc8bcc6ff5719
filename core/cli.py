"""`caseflow serve | migrate | check-policies | keys`: run the service, check its inputs,
and manage API keys."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from typing import Any

from pydantic import ValidationError

from core.logs import configure_logging, write_prefect_logging_config
from core.settings import Settings
from domain.access import AccessRole

log = logging.getLogger("caseflow")
# Requests still answering when a stop begins get this long; then their connections close.
GRACEFUL_SHUTDOWN_SECONDS = 3
# Once the service has stopped, the process is gone this long after at the latest.
EXIT_GRACE_SECONDS = 1.5


def prepare_prefect_env(settings: Settings) -> None:
    """Give Prefect its own home under the data directory, no telemetry (no network here),
    and a logging file that leaves the service's log alone."""
    home = settings.data_dir / "prefect"
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(home))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
    os.environ.setdefault("PREFECT_LOGGING_SETTINGS_PATH", str(
        write_prefect_logging_config(home / "caseflow-logging.yml")))


def _setting_problem(error: Any) -> str:
    """The variable and the reason, never the value: it may hold a password."""
    if not error["loc"]:
        return str(error["msg"])
    return f"CASEFLOW_{'_'.join(map(str, error['loc'])).upper()}: {error['msg']}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="caseflow", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the API, the sweeper and the schedules")
    commands.add_parser("migrate", help="bring the database schema up to date")
    commands.add_parser("check-policies", help="validate the policy files and exit")
    keys = commands.add_parser("keys", help="create, list and revoke API keys")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key; it is printed once")
    create.add_argument("--name", required=True, help="the person or integration")
    create.add_argument("--role", required=True, choices=[r.value for r in AccessRole])
    create.add_argument("--team", action="append", default=[], dest="teams",
                        help="a team (repeat for several); agents and supervisors need one")
    create.add_argument("--integration", action="store_true",
                        help="the key is for a system, not a person")
    create.add_argument("--expires-in", metavar="DURATION",
                        help="ISO 8601 duration, e.g. P90D; no expiry when omitted")
    listing = actions.add_parser("list", help="list keys (never the keys themselves)")
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    revoke = actions.add_parser("revoke", help="revoke a key from its next request on")
    revoke.add_argument("key_id", type=int)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "\n".join(f"  {_setting_problem(error)}" for error in exc.errors())
        print(f"caseflow: bad setting:\n{problems}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    from core.policy_loader import PolicyError, load_policies

    try:
        policies = load_policies(settings.policies)
    except PolicyError as exc:
        print(f"caseflow: refusing to start: {exc}", file=sys.stderr)
        return 2
    if args.command == "check-policies":
        print(f"policies OK: {settings.policies} (version {policies.version})")
        return 0
    if args.command == "migrate":
        from core.db import make_engine, migrate

        migrate(make_engine(settings.resolved_database_url))
        print("schema is up to date")
        return 0
    from core.clock_epoch import ClockConflict

    if args.command == "keys":
        from core.key_commands import run_key_command

        try:
            return run_key_command(args, settings, policies)
        except ClockConflict as exc:
            print(f"caseflow: refusing to start: {exc}", file=sys.stderr)
            return 2
    return serve(settings)


def serve(settings: Settings) -> int:
    """Run the service, and the embedded Prefect server unless another was named, until
    SIGTERM or Ctrl-C; then stop both."""
    from core.clock_epoch import ClockConflict
    from core.prefect_server import PortTaken, needs_embedded_server, start_prefect_server

    prepare_prefect_env(settings)
    # Set now, so that a SIGTERM before uvicorn takes over (and after, which uvicorn
    # raises again once it has shut down) still stops the Prefect server below.
    signal.signal(signal.SIGTERM, _exit_quietly)
    prefect = None
    if needs_embedded_server(settings):
        try:
            prefect = start_prefect_server(settings)
        except PortTaken as exc:
            print(f"caseflow: refusing to start: {exc}", file=sys.stderr)
            return 2
    try:
        _check_clock(settings)  # after the port check: it opens (and so creates) the store
    except ClockConflict as exc:
        if prefect is not None:
            prefect.stop()
        print(f"caseflow: refusing to start: {exc}", file=sys.stderr)
        return 2
    try:
        _run_uvicorn(settings, prefect.url if prefect else _prefect_ui_elsewhere())
    finally:
        if prefect is not None:
            prefect.stop()
            log.info("the Prefect server stopped")
        _exit_in_time()
    return 0


# uvicorn's fastest parts, named rather than left to its "auto": httptools parses HTTP
# and uvloop runs the event loop (both in requirements.lock).
SERVING = {"http": "httptools", "loop": "uvloop"}


def _run_uvicorn(settings: Settings, prefect_ui: str | None) -> None:
    import uvicorn

    from api.app import create_app

    print(f"Caseflow on http://{settings.host}:{settings.port}  (API docs: /docs, "
          f"data: {settings.data_dir}, policies: {settings.policies}, "
          f"clock speed: {settings.clock_speed}x, workers: {settings.workers})", flush=True)
    if prefect_ui:
        print(f"Prefect UI on {prefect_ui}  (flow runs, review reports)", flush=True)
    # log_config=None: uvicorn's loggers go through ours, and so through the redaction.
    serving = {**SERVING, "host": settings.host, "port": settings.port,
               "log_level": settings.log_level.lower(), "log_config": None,
               "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS}
    if settings.workers == 1:
        uvicorn.run(create_app(settings), **serving)
        return
    _prepare_for_workers(settings)
    uvicorn.run("api.app:worker_app", factory=True, workers=settings.workers, **serving)


def _prefect_ui_elsewhere() -> str | None:
    """The UI of the Prefect server `PREFECT_API_URL` names, if it does."""
    api_url = os.environ.get("PREFECT_UI_URL") or os.environ.get("PREFECT_API_URL")
    return api_url.rstrip("/").removesuffix("/api") if api_url else None


def _exit_quietly(signum: int, frame: object) -> None:
    """SIGTERM asks for the clean stop Ctrl-C gets: unwind, run the `finally`s, exit 0."""
    raise SystemExit(0)


def _exit_in_time() -> None:
    """Exit EXIT_GRACE_SECONDS from now at the latest. At exit the interpreter waits for
    the threads of a pool, such as a tick left running (see `SweepScheduler.shutdown`), and
    runs Prefect's exit hooks, which send the events and logs they hold to a Prefect API
    that may take minutes to answer, or never."""
    def exit_now() -> None:
        time.sleep(EXIT_GRACE_SECONDS)
        log.warning("exiting without waiting any longer for work left running")
        logging.shutdown()
        os._exit(0)
    threading.Thread(target=exit_now, name="caseflow-exit", daemon=True).start()


def _check_clock(settings: Settings) -> None:
    """Raise `ClockConflict` if the store keeps a clock at another speed than this one's,
    before the server starts, so that the refusal reads plainly."""
    from core.clock_epoch import shared_clock
    from core.db import make_engine

    engine = make_engine(settings.resolved_database_url)
    try:
        shared_clock(engine, settings.clock_speed)
    finally:
        engine.dispose()


def _prepare_for_workers(settings: Settings) -> None:
    """What one start does once, before the workers start together: migrate the store,
    sync the teams, create the first admin key and the survey secret."""
    from api.app import announce_first_admin_key
    from core.runtime import configure

    prepared = configure(settings)
    announce_first_admin_key(prepared)
    prepared.engine.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
