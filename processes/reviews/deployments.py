"""Write prefect.yaml's review deployments from the registry, or check that they match.

    python -m processes.reviews.deployments write   # after changing policies/reviews.yaml
    python -m processes.reviews.deployments check   # exit 1 and list the differences

One source of truth, `policies/reviews.yaml`; prefect.yaml's review blocks are generated
from it rather than read from it at deploy time. `prefect deploy` reads schedules from
prefect.yaml as static YAML: it cannot include another file, and a Python deploy
script would replace the documented `prefect deploy --all` and hide the schedules from
anyone reading prefect.yaml. So the generated blocks sit between marker comments, this
command rewrites only them, and a test (tests/unit/test_review_registry.py) fails
whenever they differ from the registry. The flows read the registry at run time too,
so a deployment never runs a review the registry does not define.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path

from core.policy_loader import load_policies
from core.settings import REPO_ROOT
from domain.reviews.policy import ReviewPolicy

PREFECT_YAML = REPO_ROOT / "prefect.yaml"
POLICIES = REPO_ROOT / "policies"
ENTRYPOINT = "processes/reviews/flows.py:periodic_review"
COMMAND = "python -m processes.reviews.deployments write"
BLOCKS = ("review schedules", "review deployments")


def deployment_name(review: str) -> str:
    """Name the review's deployment."""
    return f"review-{review}"


def schedule_anchor(review: str) -> str:
    """Name the YAML anchor of the review's schedule."""
    return "review_" + review.replace("-", "_")


def _schedules(reviews: Mapping[str, ReviewPolicy]) -> list[str]:
    lines = []
    for name, review in sorted(reviews.items()):
        lines += [f"    {schedule_anchor(name)}: &{schedule_anchor(name)}",
                  f"      cron: {json.dumps(review.cron)}",
                  f"      timezone: {review.timezone}"]
    return lines


def _deployments(reviews: Mapping[str, ReviewPolicy]) -> list[str]:
    lines = []
    for name, review in sorted(reviews.items()):  # by name: the registry's order is free
        lines += [f"  - name: {deployment_name(name)}",
                  # JSON strings are YAML strings: a title may hold any character.
                  "    description: " + json.dumps(
                      f"{review.title} ({review.computes.value}, {review.period.value})",
                      ensure_ascii=False),
                  f"    entrypoint: {ENTRYPOINT}",
                  f"    parameters: {{review: {name}}}",
                  "    tags: [caseflow, reviews]",
                  "    work_pool: *caseflow_pool",
                  "    schedules:",
                  f"      - *{schedule_anchor(name)}"]
    return lines


def _markers(block: str, indent: str) -> tuple[str, str]:
    return (f"{indent}# >>> {block}: generated from policies/reviews.yaml by `{COMMAND}`",
            f"{indent}# <<< {block}")


def render(text: str, reviews: Mapping[str, ReviewPolicy]) -> str:
    """Rewrite both generated blocks of `text` (prefect.yaml) from `reviews`."""
    lines = text.splitlines()
    for block, indent, body in ((BLOCKS[0], "    ", _schedules(reviews)),
                                (BLOCKS[1], "  ", _deployments(reviews))):
        begin, end = _markers(block, indent)
        try:
            first, last = lines.index(begin), lines.index(end)
        except ValueError:
            raise ValueError(f"prefect.yaml lacks the markers of the {block} block:\n"
                             f"{begin}\n{end}") from None
        lines[first + 1:last] = body
    return "\n".join(lines) + "\n"


def differences(prefect_yaml: Path = PREFECT_YAML, policies: Path = POLICIES) -> list[str]:
    """Diff prefect.yaml against what the registry generates; empty when they match."""
    current = prefect_yaml.read_text(encoding="utf-8")
    wanted = render(current, load_policies(policies).reviews)
    if current == wanted:
        return []
    import difflib

    return list(difflib.unified_diff(current.splitlines(), wanted.splitlines(),
                                     "prefect.yaml", "generated", lineterm=""))


def main(argv: list[str] | None = None) -> int:
    """Write or check the generated blocks; return the exit status."""
    args = sys.argv[1:] if argv is None else argv
    if args not in (["write"], ["check"]):
        print(__doc__, file=sys.stderr)
        return 2
    if args == ["check"]:
        diff = differences()
        print("\n".join(diff) if diff else "prefect.yaml matches policies/reviews.yaml")
        return 1 if diff else 0
    text = PREFECT_YAML.read_text(encoding="utf-8")
    PREFECT_YAML.write_text(render(text, load_policies(POLICIES).reviews), encoding="utf-8")
    print(f"wrote the review deployments of {PREFECT_YAML}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
