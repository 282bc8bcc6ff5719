"""`caseflow what-if`: replay a period's complaints under the policies in a directory."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date

from core.policy_loader import PolicyError, build_calendars, load_policies, policy_file_names
from core.settings import Settings
from core.whatif import Period, replayed_processes, what_if, what_if_in_processes
from domain.policy_types import zone_problem
from domain.whatif.report import Figures, WhatIfReport, as_json
from engine.clock_epoch import shared_clock
from engine.db import make_engine, migrate

SHOWN_CHANGES = 20  # changed cases listed in the text report; --json lists them all


def run_what_if(args: argparse.Namespace, settings: Settings) -> int:
    """Print the what-if report of `args` against the configured store; 2 on bad input."""
    problem = _input_problem(args)
    if problem:
        print(f"caseflow: {problem}", file=sys.stderr)
        return 2
    try:
        candidate = load_policies(args.policies)
    except PolicyError as exc:
        print(f"caseflow: candidate policies refused: {exc}", file=sys.stderr)
        return 2
    unknown = sorted(set(args.teams) - set(candidate.teams))
    if unknown:
        print(f"caseflow: --team: unknown team(s) {unknown}; known: {sorted(candidate.teams)}",
              file=sys.stderr)
        return 2
    period = Period.of_days(args.start, args.end, args.timezone,
                            frozenset(args.teams) if args.teams else None)
    engine = make_engine(settings.resolved_database_url)
    try:
        migrate(engine)
        as_of = shared_clock(engine, settings.clock_speed).now()
        if args.processes > 1:
            files = {name: (args.policies / name).read_text(encoding="utf-8")
                     for name in policy_file_names()}
            report = what_if_in_processes(settings.resolved_database_url, period,
                                          candidate=files, as_of=as_of,
                                          processes=args.processes)
        else:
            with engine.connect() as db:
                report = what_if(db, period, candidate=candidate,
                                 calendars=build_calendars(candidate), as_of=as_of)
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps({**replayed_processes(), **as_json(report)}, ensure_ascii=False,
                         indent=2))
    else:
        print(render_text(report, args))
    return 0


def _input_problem(args: argparse.Namespace) -> str | None:
    if args.end < args.start:
        return f"--to {args.end} is before --from {args.start}"
    return zone_problem(args.timezone) and f"--timezone: {zone_problem(args.timezone)}"


def parse_day(text: str) -> date:
    """A day as YYYY-MM-DD, for argparse."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def render_text(report: WhatIfReport, args: argparse.Namespace) -> str:
    """The report as lines to read: recorded beside candidate, Chinese then English."""
    teams = ", ".join(args.teams) or "全部 all"
    lines = [f"假设分析 What if: {args.policies} · {args.start} – {args.end} "
             f"({args.timezone}) · 团队 teams: {teams}",
             _processes_line(),
             f"{'':34}{'实际 recorded':>16}{'假设 candidate':>16}"]

    def row(label: str, recorded: object, candidate: object) -> None:
        lines.append(f"{label:34}{str(recorded):>16}{str(candidate):>16}")

    r, c = report.recorded, report.candidate
    row("投诉 complaints", r.cases, c.cases)
    for name in sorted(set(r.on_time) | set(c.on_time)):
        row(f"准时率 on-time {name}", _rate(r, name), _rate(c, name))
    row("超时 breaches", r.breaches, c.breaches)
    for level in sorted(set(r.rungs_by_level) | set(c.rungs_by_level)):
        row(f"升级 rungs, level {level}", r.rungs_by_level.get(level, 0),
            c.rungs_by_level.get(level, 0))
    for person in sorted(set(r.rungs_by_person) | set(c.rungs_by_person)):
        row(f"  通知 told {person}", r.rungs_by_person.get(person, 0),
            c.rungs_by_person.get(person, 0))
    row("跳过的事件 events skipped", r.skipped_events, c.skipped_events)
    row("无法重放 not replayable", r.unreplayable, c.unreplayable)
    lines.append(f"结果改变的投诉 complaints whose outcome changes: {len(report.changes)}")
    for change in report.changes[:SHOWN_CHANGES]:
        what = "; ".join(f"{k}: {v[0]} → {v[1]}" for k, v in change.differences.items())
        lines.append(f"  #{change.case_id}  {what}")
    if len(report.changes) > SHOWN_CHANGES:
        lines.append(f"  … {len(report.changes) - SHOWN_CHANGES} more (--json lists all)")
    return "\n".join(lines)


def _processes_line() -> str:
    processes = replayed_processes()
    return (f"重放 replayed: {', '.join(processes['replayed'])} · 未重放 not replayed, their "
            f"candidate policies unused: {', '.join(processes['not_replayed'])}")


def _rate(figures: Figures, clock: str) -> str:
    rate = figures.on_time.get(clock)
    if rate is None or rate.rate is None:
        return "–"
    return f"{rate.rate:.1%} ({rate.met}/{rate.decided})"
