"""`caseflow serve | migrate | check-policies | init | keys | what-if`: run the service,
check its inputs, manage API keys, and replay complaints under candidate policies."""

from __future__ import annotations

import argparse
import functools
import logging
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.logs import configure_logging, write_prefect_logging_config
from core.preflight import (
    EXIT_BAD_INPUT,
    NotReady,
    StoreUnreachable,
    check_port,
    check_store,
)
from core.settings import Settings, default_policies
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


EXIT_CODES = """exit codes:
  0  stopped by SIGTERM or Ctrl-C (serve), or done
  1  an unexpected error (the traceback says where)
  2  a bad flag, setting or policy file, or a store whose clock runs at another speed
  3  the store cannot be reached (the line names it, password masked, and why)
  4  a port is in use (the line names host:port)"""

# The flags of `caseflow serve`, and the settings they override for this start.
SERVE_FLAGS = {"host": "CASEFLOW_HOST", "port": "CASEFLOW_PORT", "workers": "CASEFLOW_WORKERS"}


def _bounded(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}")
        return value
    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="caseflow", description=__doc__, epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="run the API, the sweeper and the schedules",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run the API, the sweeper and the schedules until SIGTERM or Ctrl-C.\n"
                    "Before it writes anything (data directory, store, admin key), it checks\n"
                    "that the store answers and that the ports are free.",
        epilog="Its settings come from CASEFLOW_* environment variables (CASEFLOW_DATA_DIR,\n"
               "CASEFLOW_DATABASE_URL, CASEFLOW_POLICIES, ...), which docs/configuration.md\n"
               "lists; a flag overrides its variable for this start.\n\n" + EXIT_CODES)
    serve.add_argument("--host", help="the address the API listens on; overrides "
                                      "CASEFLOW_HOST (default 127.0.0.1)")
    serve.add_argument("--port", type=_bounded(1, 65535),
                       help="the API's port; overrides CASEFLOW_PORT (default 8000)")
    serve.add_argument("--workers", type=_bounded(1, 64),
                       help="server processes on that port; overrides CASEFLOW_WORKERS "
                            "(default 1)")
    commands.add_parser("migrate", help="bring the database schema up to date, naming the "
                                        "revisions applied")
    commands.add_parser("check-policies", help="validate the policy files and exit")
    init = commands.add_parser(
        "init", help="write the default policies into DIRECTORY, to edit them",
        description="Write the policies the service starts on by default into DIRECTORY, "
                    "to edit them; then start it with CASEFLOW_POLICIES=DIRECTORY.")
    init.add_argument("directory", type=Path)
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
    _what_if_parser(commands)
    return parser


def _what_if_parser(commands: Any) -> None:
    from core.whatif import MIN_SHARE, usable_cpus
    from core.whatif_command import parse_day

    what_if = commands.add_parser(
        "what-if", help="replay a period's complaints under candidate policies",
        description="Replay the stored events of the complaints opened from --from to --to "
                    "(both days included) under the policies in --policies, validated as at "
                    "start-up, and print their figures beside those recorded. Reads only.")
    what_if.add_argument("--policies", required=True, type=Path, metavar="DIR",
                         help="the candidate policy files (a copy of policies/, edited)")
    what_if.add_argument("--from", required=True, type=parse_day, dest="start",
                         metavar="DATE", help="first day, YYYY-MM-DD")
    what_if.add_argument("--to", required=True, type=parse_day, dest="end", metavar="DATE",
                         help="last day, YYYY-MM-DD")
    what_if.add_argument("--team", action="append", default=[], dest="teams",
                         help="only this team's complaints (repeat for several)")
    what_if.add_argument("--timezone", default="Asia/Shanghai",
                         help="the zone the days are read in (default Asia/Shanghai)")
    what_if.add_argument("--json", action="store_true", help="print the report as JSON")
    cpus = min(usable_cpus(), 16)
    what_if.add_argument("--processes", type=_bounded(1, 16), default=cpus,
                         help="split the complaints over up to this many processes, at "
                              f"least {MIN_SHARE:,} complaints each (default: the CPUs this "
                              f"command may use, {cpus} here); the report is the same "
                              "whatever the number")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "init":
        return init_policies(args.directory)
    if args.command == "serve":
        # Through the environment, so that the workers (CASEFLOW_WORKERS) read them too.
        for flag, variable in SERVE_FLAGS.items():
            if getattr(args, flag) is not None:
                os.environ[variable] = str(getattr(args, flag))
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "\n".join(f"  {_setting_problem(error)}" for error in exc.errors())
        print(f"caseflow: bad setting:\n{problems}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    from core.policy_loader import PolicyError, load_policies

    try:
        policies = load_policies(settings.policies)
    except PolicyError as exc:
        print(f"caseflow: refusing to start: {exc}", file=sys.stderr)
        return 2
    if args.command == "check-policies":
        print(f"policies OK: {settings.policies} (version {policies.version})")
        return 0
    if args.command == "serve":
        return serve(settings)
    try:
        check_store(settings.resolved_database_url, settings.database_url)
    except StoreUnreachable as exc:
        print(f"caseflow: {exc}", file=sys.stderr)
        return exc.code
    if args.command == "migrate":
        return run_migrate(settings)
    from engine.clock_epoch import ClockConflict

    if args.command == "what-if":
        from core.whatif_command import run_what_if

        try:
            return run_what_if(args, settings)
        except ClockConflict as exc:
            print(f"caseflow: refusing to start: {exc}", file=sys.stderr)
            return 2
    if args.command == "keys":
        from core.key_commands import run_key_command

        try:
            return run_key_command(args, settings, policies)
        except ClockConflict as exc:
            print(f"caseflow: refusing to start: {exc}", file=sys.stderr)
            return 2
    raise AssertionError(f"unknown command {args.command}")


def init_policies(directory: Path) -> int:
    """Copy the default policies into `directory`, never over a file already there."""
    source = default_policies()
    files = sorted(source.glob("*.yaml"))
    if not files:
        print(f"caseflow: no policy files in {source}: is the package installed whole?",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    taken = [f.name for f in files if (directory / f.name).exists()]
    if taken:
        print(f"caseflow: {directory} has {', '.join(taken)} already; nothing was written",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    directory.mkdir(parents=True, exist_ok=True)
    for file in files:
        shutil.copyfile(file, directory / file.name)
    print(f"wrote {len(files)} policy files to {directory.absolute()}; edit them, then start "
          f"with CASEFLOW_POLICIES={directory.absolute()} caseflow serve")
    return 0


def run_migrate(settings: Settings) -> int:
    """Migrate the store, naming each revision applied, or the one it was at already."""
    from engine.db import make_engine, migrate, migration_scripts

    engine = make_engine(settings.resolved_database_url)
    try:
        applied = migrate(engine)
    finally:
        engine.dispose()
    for script in applied:
        print(f"applied {script.revision}: {script.doc}")
    head = migration_scripts().get_revision("heads")
    if applied:
        print(f"now at {head.revision}")
    else:
        print(f"already at {head.revision} ({head.doc}): nothing to apply")
    return 0


def preflight(settings: Settings) -> None:
    """What must hold before `serve` writes anything: the ports free, the store answers.
    Raises `NotReady`."""
    from core.prefect_server import needs_embedded_server, wait_until_free

    check_port(settings.host, settings.port)
    if needs_embedded_server(settings):
        wait_until_free(settings.prefect_port)
    check_store(settings.resolved_database_url, settings.database_url)


def serve(settings: Settings) -> int:
    """Run the service, and the embedded Prefect server unless another was named, until
    SIGTERM or Ctrl-C; then stop both."""
    from core.metrics_dir import prepare_multiprocess_dir

    prepare_multiprocess_dir(settings)  # before anything imports prometheus_client
    from core.prefect_server import PortTaken, needs_embedded_server, start_prefect_server
    from engine.clock_epoch import ClockConflict

    try:
        preflight(settings)
    except NotReady as exc:
        print(f"caseflow: refusing to start: {exc}", file=sys.stderr)
        return exc.code
    prepare_prefect_env(settings)
    # Set now, so that a SIGTERM before uvicorn takes over (and after, which uvicorn
    # raises again once it has shut down) still stops the Prefect server below.
    signal.signal(signal.SIGTERM, _exit_quietly)
    prefect = None
    if needs_embedded_server(settings):
        try:
            prefect = start_prefect_server(settings)
        except PortTaken as exc:  # taken since the check
            print(f"caseflow: refusing to start: {exc}", file=sys.stderr)
            return exc.code
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
SERVING: dict[str, str] = {"http": "httptools", "loop": "uvloop"}


def _run_uvicorn(settings: Settings, prefect_ui: str | None) -> None:
    import uvicorn

    from api.app import create_app

    _announce(settings, f"Caseflow on http://{settings.host}:{settings.port}  (API docs: "
              f"/docs, data: {settings.data_dir}, policies: {settings.policies}, "
              f"clock speed: {settings.clock_speed}x, workers: {settings.workers})")
    if prefect_ui:
        _announce(settings, f"Prefect UI on {prefect_ui}  (flow runs, review reports)")
    # log_config=None: uvicorn's loggers go through ours, and so through the redaction.
    serve = functools.partial(
        uvicorn.run, host=settings.host, port=settings.port, http=SERVING["http"],
        loop=SERVING["loop"],
        log_level=settings.log_level.lower(), log_config=None,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS)
    if settings.workers == 1:
        serve(create_app(settings))
        return
    _prepare_for_workers(settings)
    serve("api.app:worker_app", factory=True, workers=settings.workers)


def _announce(settings: Settings, line: str) -> None:
    """A start-up line: printed, or in the JSON log format a log line like the others."""
    if settings.log_format == "json":
        log.info("%s", line)
    else:
        print(line, flush=True)


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
    from engine.clock_epoch import shared_clock, stored_epoch
    from engine.db import make_engine

    engine = make_engine(settings.resolved_database_url)
    try:
        # A store not yet migrated keeps no clock to conflict with; the first start
        # migrates it, then sets its clock going.
        if stored_epoch(engine) is not None:
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
