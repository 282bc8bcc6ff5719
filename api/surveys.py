"""The public survey link: `GET /s/{token}` shows the survey, `POST /s/{token}` answers it.

Reached only through a link the service sent; no credentials. The answer comes as JSON
or as the page's form; each answer takes the matching shape (JSON, or an HTML page).
A link is refused with 400 (not one we made), 410 (expired, or the follow-up closed)
or 409 (answered already), saying only that.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import Field, ValidationError
from sqlmodel import Session

from api.deps import RuntimeDep
from api.errors import field_error
from api.schemas import Model, Problem
from api.storable import Unstorable, load_json
from api.survey_page import HEADERS, form_page, html, message_page
from core.runtime import Runtime
from core.surveys import LinkProblem, answer_survey, open_survey
from domain.messages import language_of, negotiate
from domain.process import InvalidEvent
from domain.satisfaction import MAX_TEXT
from domain.survey_token import MAX_TOKEN_LENGTH

router = APIRouter(tags=["customer survey (public)"])
Token = Annotated[str, Path(max_length=MAX_TOKEN_LENGTH, description="from the link")]
MAX_BODY = 16_384
THANKS = "Thank you! Your answer helps us serve you better."
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "not a link the service sent"},
    409: {"model": Problem, "description": "the survey was answered already"},
    410: {"model": Problem, "description": "the link expired or the survey closed"}}


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


@router.get("/s/{token}", response_class=Response, responses={
    200: {"content": {"text/html": {}}, "description": "the survey page"}, **ERRORS})
def survey_page(token: Token, request: Request, rt: RuntimeDep) -> Response:
    """Show the survey behind a link, or say plainly why it cannot be answered; in Simplified
    Chinese unless `?lang=en` or the browser prefers English."""
    language = page_language(request, rt)
    with Session(rt.engine) as session:
        try:
            open_survey(session, token, runtime=rt, now=rt.clock.now())
        except LinkProblem as exc:
            return _problem(exc, False, rt, language)
    return html(form_page(rt.policies.messages, language))


@router.post("/s/{token}", responses={
    200: {"description": "answered: JSON, or the thank-you page for a form"},
    422: {"model": Problem}, **ERRORS}, openapi_extra=_BODY)
async def answer(token: Token, request: Request, rt: RuntimeDep) -> Response:
    """Answer the survey once: JSON or the page's form (application/x-www-form-urlencoded)."""
    as_json = request.headers.get("content-type", "").startswith("application/json")
    language = page_language(request, rt)
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return field_error(["body"], f"at most {MAX_BODY} bytes")
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
