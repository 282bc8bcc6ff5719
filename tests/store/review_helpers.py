"""Helpers for the review tests: a runtime with chosen reviews, and what the store holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlmodel import Session, col, select

from core.runtime import Runtime
from engine.clock import FrozenClock
from engine.models import Finding, OutboxMessage, ReviewRun
from tests.conftest import build_runtime
from tests.support import WebhookReceiver, write_policies


def reviews_runtime(database: tuple[str, dict], clock: FrozenClock, directory: Path,
                    *names: str, receiver: WebhookReceiver | None = None,
                    greetings: dict[str, Any] | None = None) -> Runtime:
    """A runtime whose registry holds only the reviews `names` (all when none are named)."""
    policies = write_policies(directory, receiver=receiver)
    path = policies / "reviews.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if names:
        data["reviews"] = {name: data["reviews"][name] for name in names}
    if greetings:
        data["greetings"].update(greetings)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return build_runtime(database, policies, clock)


def runs(rt: Runtime, review: str | None = None) -> list[ReviewRun]:
    with Session(rt.engine) as session:
        query = select(ReviewRun).order_by(col(ReviewRun.id))
        if review is not None:
            query = query.where(ReviewRun.review == review)
        return list(session.exec(query))


def findings(rt: Runtime) -> list[Finding]:
    with Session(rt.engine) as session:
        return list(session.exec(select(Finding).order_by(col(Finding.id))))


def outbox(rt: Runtime, role: str | None = None) -> list[OutboxMessage]:
    with Session(rt.engine) as session:
        query = select(OutboxMessage).order_by(col(OutboxMessage.id))
        if role is not None:
            query = query.where(OutboxMessage.role == role)
        return list(session.exec(query))
