"""Surveys in the store: send one with its signed link, remind, and take the one answer.

A link is checked in this order, each refusal saying only what is wrong with the link:
the signature (400: not a link we made), the expiry (410), the store (400: unknown, the
same answer as a forgery), the earlier use (409) and the follow-up's stage (410: it
closed without an answer). The answer consumes the survey in the transaction that
stores it, so a link answers once even when two submissions race.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from domain.followup import rules as followup
from domain.satisfaction import SCORES
from domain.survey_token import NONCE_BYTES, TokenExpired, TokenInvalid, verify
from engine.delivery import CUSTOMER_PREFIX
from engine.hooks import after_decision
from engine.models import Case, Customer, OutboxMessage, Survey, SurveyAnswer
from engine.store import load_case, load_clocks, persist_decision, snapshot_of
from processes.followup.survey_links import survey_link

if TYPE_CHECKING:
    from core.runtime import Runtime


class LinkProblem(Exception):
    """A survey link that cannot be answered: the HTTP `status`, a `code` and a message."""

    status, code, message = 400, "invalid_link", (
        "This link is not valid. Please use the link exactly as you received it.")

    def __init__(self) -> None:
        super().__init__(self.message)


class LinkInvalid(LinkProblem):
    """Not a link the service sent: malformed, altered, forged or unknown."""


class LinkExpired(LinkProblem):
    status, code, message = 410, "expired_link", (
        "This survey link has expired. Thank you all the same.")


class SurveyClosed(LinkProblem):
    status, code, message = 410, "survey_closed", (
        "This survey is closed. Thank you all the same.")


class AlreadyAnswered(LinkProblem):
    status, code, message = 409, "already_answered", (
        "This survey has been answered already: each link takes one answer. Thank you!")


def issue(session: Session, case: Case, *, runtime: Runtime, now: datetime) -> Survey:
    """Create the survey of a follow-up that was just sent and queue its message."""
    assert case.id is not None and case.customer_id is not None
    data = case.data
    survey = Survey(followup_case_id=case.id, source_case_id=data["source_case"],
                    customer_id=case.customer_id, agent=data.get("agent"),
                    sent_via=data["channel"], nonce=secrets.token_bytes(NONCE_BYTES).hex(),
                    issued_at=now, expires_at=datetime.fromisoformat(data["expires_at"]))
    session.add(survey)
    session.flush()
    case.data = {**case.data, "survey": survey.id}
    session.add(case)
    _queue(session, case, survey, "survey", runtime=runtime, now=now)
    return survey


def remind(session: Session, case: Case, *, runtime: Runtime, now: datetime) -> None:
    """Queue the reminder, with the same link as the survey."""
    survey = session.exec(select(Survey).where(Survey.followup_case_id == case.id)).one()
    survey.reminded_at = now
    session.add(survey)
    _queue(session, case, survey, "reminder", runtime=runtime, now=now)


def _queue(session: Session, case: Case, survey: Survey, kind: str, *, runtime: Runtime,
           now: datetime) -> None:
    policy = followup.policy_of(runtime.policies)
    template = policy.survey if kind == "survey" else policy.reminder
    customer = session.get(Customer, survey.customer_id)
    assert customer is not None
    m = runtime.policies.messages
    language = customer.language
    values = {"name": customer.name or m.for_customers("customer", language=language),
              "link": survey_link(runtime.settings.resolved_public_url, runtime.survey_secret,
                                  survey.nonce, survey.expires_at),
              "expires": followup.last_day(survey.expires_at, policy).isoformat()}
    # The recipient names the contact chosen at sending, so the reminder takes it too.
    session.add(OutboxMessage(
        key=f"survey:{survey.id}:{kind}", case_id=case.id,
        recipient=f"{CUSTOMER_PREFIX}{customer.id}:{survey.sent_via}", role="customer",
        subject=m.for_customers(template.subject, language=language, **values),
        body=m.for_customers(template.body, language=language, **values),
        status="pending", created_at=now, next_attempt_at=now))


def store_answer(session: Session, case: Case, answer: Mapping[str, Any], *,
                 now: datetime) -> SurveyAnswer:
    """Record a follow-up's answer (link or call) and mark its survey used."""
    survey = session.exec(select(Survey).where(Survey.followup_case_id == case.id)).one()
    if survey.consumed_at is None:
        survey.consumed_at = now  # answered on the phone: the link is spent too
        session.add(survey)
    row = SurveyAnswer(survey_id=survey.id or 0, via=answer["via"], answered_at=now,
                       recorded_by=answer["by"], comment=answer.get("comment"),
                       **{name: answer.get(name) for name in SCORES})
    session.add(row)
    return row


def open_survey(session: Session, token: str, *, runtime: Runtime, now: datetime,
                for_update: bool = False) -> tuple[Survey, Case]:
    """The survey a link stands for, if it can still be answered; else a `LinkProblem`."""
    try:
        claims = verify(runtime.survey_secret, token, now)
    except TokenInvalid:
        raise LinkInvalid from None
    except TokenExpired:
        raise LinkExpired from None
    query = select(Survey).where(Survey.nonce == claims.nonce)
    survey = session.exec(query.with_for_update() if for_update else query).first()
    if survey is None:
        raise LinkInvalid  # signed with our secret, yet unknown: say no more
    if survey.consumed_at is not None:
        raise AlreadyAnswered
    case = load_case(session, survey.followup_case_id, for_update=for_update)
    assert case is not None
    if case.stage not in followup.ANSWERABLE:
        raise SurveyClosed
    return survey, case


def answer_survey(session: Session, token: str, answer: Mapping[str, Any], *,
                  runtime: Runtime, now: datetime) -> None:
    """Take the customer's answer and commit; `InvalidEvent` names a wrong field."""
    survey, case = open_survey(session, token, runtime=runtime, now=now, for_update=True)
    # Consume first, conditionally: of two racing submissions exactly one updates a row.
    used = session.exec(update(Survey).where(col(Survey.id) == survey.id,
                                             col(Survey.consumed_at).is_(None))
                        .values(consumed_at=now))
    if used.rowcount != 1:
        raise AlreadyAnswered
    clocks = load_clocks(session, survey.followup_case_id)
    decision = followup.answer(snapshot_of(case, clocks), scores=answer,
                               comment=answer.get("comment"),
                               opt_out=bool(answer.get("opt_out")),
                               policies=runtime.policies, calendars=runtime.calendars, now=now)
    persist_decision(session, case, clocks, decision, policies=runtime.policies,
                     calendars=runtime.calendars, now=now)
    after_decision(session, case, decision, policies=runtime.policies,
                   calendars=runtime.calendars, now=now, runtime=runtime)
    session.commit()
