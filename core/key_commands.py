"""`caseflow keys create | list | revoke`: API keys from the command line, for admins."""

from __future__ import annotations

import argparse
import getpass
import sys

from sqlmodel import Session

from core.keys import KeyNotFound, KeyProblem, create_key, list_keys, revoke_key
from core.settings import Settings
from domain.access import AccessRole, ActorKind
from domain.durations import parse_duration
from domain.policy import PolicySet
from engine.clock_epoch import shared_clock
from engine.db import make_engine, migrate


def run_key_command(args: argparse.Namespace, settings: Settings, policies: PolicySet) -> int:
    """Carry out one `keys` action against the configured store; 2 on a refused request."""
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    now = shared_clock(engine, settings.clock_speed).now()  # the store's time, fast or not
    by = f"cli:{getpass.getuser()}"
    with Session(engine, expire_on_commit=False) as session:
        try:
            if args.action == "create":
                expires_at = now + parse_duration(args.expires_in) if args.expires_in else None
                kind = ActorKind.integration if args.integration else ActorKind.person
                new = create_key(session, name=args.name, role=AccessRole(args.role),
                                 teams=args.teams, kind=kind, expires_at=expires_at,
                                 created_by=by, policies=policies, now=now)
                print(f"created key {new.record.id} for {new.record.name} ({new.record.role}); "
                      "it is shown this once:", file=sys.stderr)
                print(new.secret)
            elif args.action == "list":
                for key in list_keys(session, include_revoked=args.all):
                    state = "revoked" if key.revoked_at else (
                        f"expires {key.expires_at:%Y-%m-%d %H:%M}Z" if key.expires_at else "active")
                    print(f"{key.id:>5}  {key.prefix}…  {key.name:<24} {key.kind:<11} "
                          f"{key.role:<10} {','.join(key.teams) or '-':<24} {state}")
            else:
                key = revoke_key(session, args.key_id, by=by, now=now)
                print(f"key {key.id} ({key.name}) revoked")
        except (KeyProblem, KeyNotFound, ValueError) as exc:
            print(f"caseflow: {exc}", file=sys.stderr)
            return 2
        finally:
            engine.dispose()
    return 0
