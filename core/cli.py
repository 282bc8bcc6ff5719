"""`caseflow serve | migrate | check-policies`: run the service or check its inputs."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from pydantic import ValidationError

from core.settings import Settings


def prepare_prefect_env(settings: Settings) -> None:
    """Give Prefect its own home under the data directory and no telemetry (no network here)."""
    home = settings.data_dir / "prefect"
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(home))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_UI_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="caseflow", description=__doc__)
    parser.add_argument("command", choices=["serve", "migrate", "check-policies"])
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"caseflow: bad setting:\n{exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("httpx", "apscheduler", "alembic"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    # "maximum number of running instances reached" only says a long sweep is still going.
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
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
    prepare_prefect_env(settings)
    import uvicorn

    from api.app import create_app

    print(f"Caseflow on http://{settings.host}:{settings.port}  (API docs: /docs, "
          f"data: {settings.data_dir}, policies: {settings.policies}, "
          f"clock speed: {settings.clock_speed}x)", flush=True)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level=settings.log_level.lower())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
