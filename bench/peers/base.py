"""What the two peer services share: the request body, their tables, and notification posts.

The peers are what a team would build instead of Caseflow for the same complaint
process: record the complaint, wait for an acknowledgement until the first-response
target, escalate on timeout (an escalation row, then a POST to the assignee and to the
supervisor). They run as their own server processes (`python -m bench.peers.<name>`),
take the same `POST /cases` body as Caseflow, and keep their rows in a store of the
same kind (SQLite with the same pragmas, or PostgreSQL), made by `engine.db.make_engine`.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import isodate
from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from bench.request_body import CaseCreate

ASSIGNEES = ("li.wei", "zhang.min", "chen.jing")  # the complaints team of policies/teams.yaml
SUPERVISOR = "wang.fang"

metadata = MetaData()

complaints = Table(
    "peer_complaints", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject", String(300), nullable=False),
    Column("customer_ref", String(120)),
    Column("tier", String(3), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("status", String(20), nullable=False),  # waiting | acknowledged | escalated
    Column("flow_run_id", String(36)),  # the Prefect peer's flow run
)

escalations = Table(
    "peer_escalations", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # unique: a complaint escalates at most once, whatever retries happen
    Column("complaint_id", ForeignKey("peer_complaints.id"), nullable=False, unique=True),
    Column("escalated_at", DateTime(timezone=True), nullable=False),
)

workflows = Table(  # the SpiffWorkflow peer: one serialized workflow per complaint
    "peer_workflows", metadata,
    Column("complaint_id", ForeignKey("peer_complaints.id"), primary_key=True),
    Column("status", String(20), nullable=False),  # waiting | done
    Column("wake_at", DateTime(timezone=True)),  # the earliest timer; NULL when none
    Column("state", Text, nullable=False),  # BpmnWorkflowSerializer JSON
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Index("ix_peer_workflows_due", workflows.c.status, workflows.c.wake_at)


class ComplaintIn(CaseCreate):
    """Caseflow's POST /cases body, plus when the complaint was received (default: now)."""

    opened_at: datetime | None = None


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_duration(text: str) -> timedelta:
    value = isodate.parse_duration(text)
    if not isinstance(value, timedelta):
        raise ValueError(f"{text!r}: only day/time durations are supported")
    return value


def assignee(complaint_id: int) -> str:
    return ASSIGNEES[complaint_id % len(ASSIGNEES)]


def escalation_posts(notify_url: str, complaint_id: int, subject: str
                     ) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """The two posts of one escalation, to the assignee and to the supervisor, each with
    its idempotency key in a header, as Caseflow sends it."""
    body = {"title": f"complaint {complaint_id} breached its first-response target",
            "message": subject, "type": "warning"}
    headers = {"Idempotency-Key": f"esc-{complaint_id}"}
    return [(f"{notify_url}/{person}", body, headers)
            for person in (assignee(complaint_id), SUPERVISOR)]


def notify_sync(client: httpx.Client, notify_url: str, complaint_id: int, subject: str) -> None:
    """POST the escalation to both people; an error status raises (the step is retried)."""
    for url, body, headers in escalation_posts(notify_url, complaint_id, subject):
        client.post(url, json=body, headers=headers).raise_for_status()


async def notify_async(client: httpx.AsyncClient, notify_url: str, complaint_id: int,
                       subject: str) -> None:
    for url, body, headers in escalation_posts(notify_url, complaint_id, subject):
        (await client.post(url, json=body, headers=headers)).raise_for_status()


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True,
                        help="SQLAlchemy URL of the peer's store (sqlite:/// or "
                             "postgresql+psycopg://)")
    parser.add_argument("--notify-url", required=True,
                        help="base URL of the webhook receiver; posts go to <url>/<person>")
    parser.add_argument("--first-response", default="PT20M",
                        help="ISO 8601 first-response target (ordinary, tier B)")
    parser.add_argument("--log-level", default="info")
    return parser.parse_args()
