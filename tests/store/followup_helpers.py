"""Helpers for the follow-up tests: a runtime that reaches customers, complaints to close."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import Session, col, select

from core.cases import CustomerInput, OpenCase, open_case
from core.runtime import Runtime
from domain.policy import Tier
from engine.clock import FrozenClock
from engine.models import Case, Customer, Finding, Survey, SurveyAnswer, Timer
from tests.conftest import build_runtime
from tests.store.helpers import send
from tests.support import WebhookReceiver, write_policies

LINK = re.compile(r"https://survey\.example\.test/s/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)")


def followup_runtime(database: tuple[str, dict], clock: FrozenClock, directory: Path,
                     receiver: WebhookReceiver | None = None, **followup: Any) -> Runtime:
    """The shipped policies; staff and customers (e-mail, SMS) reach `receiver`."""
    policies = write_policies(directory, receiver=receiver)
    if receiver is not None:
        path = policies / "reviews.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        base = f"json://127.0.0.1:{receiver.port}"
        data["greetings"]["customer_channels"] = {"email": f"{base}/email/{{email}}",
                                                  "phone": f"{base}/sms/{{phone}}"}
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    if followup:
        path = policies / "followup.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["followup"].update(followup)
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return build_runtime(database, policies, clock)


def open_for(rt: Runtime, *, ref: str = "lin", name: str = "Lin", tier: str = "B",
             email: str | None = "lin@example.com", phone: str | None = "13812345678",
             preferred: str | None = None, opt_out: bool | None = None,
             category: str | None = "delivery", channel: str | None = "phone") -> int:
    """Open an ordinary complaint for a customer with the given contacts."""
    request = OpenCase(subject="parcel arrived broken", description="box crushed",
                       category=category, channel=channel, priority="ordinary",
                       customer=CustomerInput(ref=ref, name=name, tier=Tier(tier), phone=phone,
                                              email=email, survey_opt_out=opt_out,
                                              preferred_channel=preferred))
    with Session(rt.engine, expire_on_commit=False) as session:
        case, _ = open_case(session, request=request, actor="li.wei", policies=rt.policies,
                            calendars=rt.calendars, now=rt.clock.now())
        assert case.id is not None
        return case.id


def settle(rt: Runtime, case_id: int, *, how: str = "confirm") -> None:
    """Acknowledge and resolve a complaint, then close it by `how` (confirm or withdraw)."""
    send(rt, case_id, "acknowledge")
    if how == "confirm":
        send(rt, case_id, "resolve")
    send(rt, case_id, how)


def load(rt: Runtime, case_id: int) -> Case:
    with Session(rt.engine) as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case


def followup_of(rt: Runtime, case_id: int) -> Case:
    """The follow-up a closed case opened."""
    return load(rt, load(rt, case_id).data["followup"])


def rows(rt: Runtime, model: type, *where: Any) -> list[Any]:
    with Session(rt.engine) as session:
        return list(session.exec(select(model).where(*where).order_by(col(model.id))))


def survey_of(rt: Runtime, followup_id: int) -> Survey | None:
    found = rows(rt, Survey, Survey.followup_case_id == followup_id)
    return found[0] if found else None


def answer_of(rt: Runtime, survey_id: int) -> SurveyAnswer | None:
    found = rows(rt, SurveyAnswer, SurveyAnswer.survey_id == survey_id)
    return found[0] if found else None


def customer(rt: Runtime, ref: str) -> Customer:
    return rows(rt, Customer, Customer.external_ref == ref)[0]


def live_timers(rt: Runtime, case_id: int) -> list[Timer]:
    return rows(rt, Timer, Timer.case_id == case_id, col(Timer.status).in_(("pending",
                                                                            "paused")))


def satisfaction_findings(rt: Runtime) -> list[Finding]:
    return rows(rt, Finding, Finding.source == "satisfaction")


def token_in(text: str) -> str:
    """The survey token in a message body."""
    found = LINK.search(text)
    assert found, text
    return found.group(1)
