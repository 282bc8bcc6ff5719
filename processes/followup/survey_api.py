"""The public survey link: `GET /s/{token}` shows the survey, `POST /s/{token}` answers it.

Reached only through a link the service sent; no credentials. The page and its refusals
are HTML. An answer comes as JSON or as the page's form, and each answer to it takes the
matching shape: JSON for a JSON body (`Content-Type: application/json`), HTML otherwise.
A link is refused with 400 (not one we made), 410 (expired, or the follow-up closed)
or 409 (answered already), saying only that; a client address that sends too many
requests gets 429 with `Retry-After` (`CASEFLOW_SURVEY_REQUESTS_PER_MINUTE`).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import Field, ValidationError
from sqlmodel import Session

from api.auth import RETRY_AFTER, client_address
from api.body_limit import TOO_LARGE, BodyTooLarge
from api.deps import RuntimeDep
from api.schemas import Model, Problem
from api.storable import Unstorable, load_json
from core.limits import retry_after
from core.runtime import Runtime
from domain.messages import language_of, negotiate
from domain.process import InvalidEvent
from domain.satisfaction import MAX_TEXT
from domain.survey_token import MAX_TOKEN_LENGTH
from processes.followup.survey_page import HEADERS, form_page, html, message_page
from processes.followup.surveys import LinkProblem, answer_survey, open_survey

router = APIRouter(tags=["customer survey (public)"])
Token = Annotated[str, Path(max_length=MAX_TOKEN_LENGTH, description="from the link")]
# The page's form with a comment of MAX_TEXT characters, each percent-encoded, fits.
MAX_BODY = 32_768
THANKS = "Thank you! Your answer helps us serve you better."
BUSY = "Too many requests from your network just now. Please try again in a moment."

# What each answer is, documented with the media types it is sent in.
_HTML = {"text/html": {"schema": {"type": "string"}}}
_REFUSALS = {400: "not a link the service sent", 409: "the survey was answered already",
             410: "the link expired or the survey closed",
             429: "too many requests from this address"}


def _refusals(**answer: Any) -> dict[int | str, dict[str, Any]]:
    """The refusals, each documented as `answer` says, 429 with its Retry-After."""
    return {status: {**answer, "description": f"{reason}: {answer['description']}",
                     **({"headers": RETRY_AFTER} if status == 429 else {})}
            for status, reason in _REFUSALS.items()}


PAGE_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "the survey page", "content": _HTML},
    **_refusals(description="a page saying so", content=_HTML),
    422: {"model": Problem, "description": "a token longer than any link"}}
ANSWER_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "answered: JSON for a JSON body, else the thank-you page",
          "content": {"application/json": {"schema": {"type": "object", "properties": {
              "status": {"const": "answered"}, "message": {"type": "string"}}}}, **_HTML}},
    **_refusals(model=Problem, content=_HTML,
                description="JSON for a JSON body, else a page saying so"),
    422: {"model": Problem, "content": _HTML, "description": "the fields to fix: JSON for a "
          "JSON body, else the form again saying which"},
    **TOO_LARGE}


class SurveyAnswerIn(Model):
    """A customer's answer: CSAT and NPS, optionally the three dimensions and a comment."""

    csat: int = Field(ge=1, le=5, description="1 very dissatisfied ... 5 very satisfied")
    nps: int = Field(ge=0, le=10, description="how likely to recommend us, 0 to 10")
    speed: int | None = Field(default=None, ge=1, le=5)
    attitude: int | None = Field(default=None, ge=1, le=5)
    resolution: int | None = Field(default=None, ge=1, le=5)
    comment: str | None = Field(default=None, max_length=MAX_TEXT)
    opt_out: bool = Field(default=False, description="no more satisfaction surveys")


_SCHEMA = SurveyAnswerIn.model_json_schema()
_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": _SCHEMA},
    "application/x-www-form-urlencoded": {"schema": _SCHEMA}}}}


def page_language(request: Request, rt: Runtime) -> str:
    """The page's language: `?lang=`, else the browser's (Accept-Language), else the service's."""
    return (language_of(request.query_params.get("lang"))
            or negotiate(request.headers.get("accept-language"), rt.policies.messages.language))


def _problem(exc: LinkProblem, as_json: bool, rt: Runtime, language: str) -> Response:
    message = rt.policies.messages.text(language, exc.message)
    if as_json:
        return JSONResponse({"detail": {"error": exc.code, "message": message}},
                            status_code=exc.status, headers=HEADERS)
    title = rt.policies.messages.text(language, "Survey")
    return html(message_page(language, title, message), exc.status)


def _busy(request: Request, rt: Runtime, as_json: bool, language: str) -> Response | None:
    """429 if this client address has used up its survey requests; None to go on."""
    wait = rt.limits.survey.spend(client_address(request))
    if not wait:
        return None
    headers = {**HEADERS, "Retry-After": retry_after(wait)}
    message = rt.policies.messages.text(language, BUSY)
    if as_json:
        return JSONResponse({"detail": {"error": "too_many_requests", "message": message}},
                            status_code=429, headers=headers)
    title = rt.policies.messages.text(language, "Survey")
    return html(message_page(language, title, message), 429, headers)


@router.get("/s/{token}", response_class=Response, responses=PAGE_ANSWERS)
def survey_page(token: Token, request: Request, rt: RuntimeDep) -> Response:
    """Show the survey behind a link, or say plainly why it cannot be answered; in Simplified
    Chinese unless `?lang=en` or the browser prefers English."""
    language = page_language(request, rt)
    busy = _busy(request, rt, False, language)
    if busy is not None:
        return busy
    with Session(rt.engine) as session:
        try:
            open_survey(session, token, runtime=rt, now=rt.clock.now())
        except LinkProblem as exc:
            return _problem(exc, False, rt, language)
    return html(form_page(rt.policies.messages, language))


@router.post("/s/{token}", responses=ANSWER_ANSWERS, openapi_extra=_BODY)
async def answer(token: Token, request: Request, rt: RuntimeDep) -> Response:
    """Answer the survey once: JSON or the page's form (application/x-www-form-urlencoded).

    Each answer comes as JSON for a JSON body, and as an HTML page for the form."""
    as_json = request.headers.get("content-type", "").startswith("application/json")
    language = page_language(request, rt)
    busy = _busy(request, rt, as_json, language)
    if busy is not None:
        return busy
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise BodyTooLarge(MAX_BODY)
    try:
        data: Any = load_json(raw) if as_json else dict(parse_qsl(raw.decode("utf-8")))
        body = SurveyAnswerIn.model_validate(data)
    except (ValueError, ValidationError, Unstorable) as exc:
        return _invalid(exc, as_json, rt, language)
    try:
        await run_in_threadpool(_answer, rt, token, body.model_dump())
    except LinkProblem as exc:
        return _problem(exc, as_json, rt, language)
    except InvalidEvent as exc:
        return _invalid(exc, as_json, rt, language)
    m = rt.policies.messages
    if as_json:
        return JSONResponse({"status": "answered", "message": m.text(language, THANKS)},
                            headers=HEADERS)
    return html(message_page(language, m.text(language, "Thank you"), m.text(language, THANKS)))


def _answer(rt: Runtime, token: str, body: dict[str, Any]) -> None:
    with Session(rt.engine, expire_on_commit=False) as session:
        answer_survey(session, token, body, runtime=rt, now=rt.clock.now())


def _invalid(exc: Exception, as_json: bool, rt: Runtime, language: str) -> Response:
    """422 naming the fields: as JSON, or the form again with what to fix."""
    if isinstance(exc, ValidationError):
        problems = [([*("body", *e["loc"])], e["msg"]) for e in exc.errors()]
    elif isinstance(exc, InvalidEvent):
        problems = [(["body", exc.field], exc.reason)]
    elif isinstance(exc, Unstorable):
        problems = [(exc.loc, exc.reason)]
    else:
        problems = [(["body"], "not valid JSON or form data")]
    if as_json:
        return JSONResponse(status_code=422, headers=HEADERS, content={"detail": [
            {"loc": loc, "msg": msg, "type": "value_error"} for loc, msg in problems]})
    fields = ", ".join(str(loc[-1]) for loc, _ in problems)
    m = rt.policies.messages
    return html(form_page(m, language, m.text(language, "Please check: {fields}.",
                                              fields=fields)), 422)
