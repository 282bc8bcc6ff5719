"""Domain errors as HTTP answers: 404 unknown, 409 illegal, 422 invalid; never a 500."""

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from api.storable import Unstorable
from api.times import utc_json
from core.cases import CaseNotFound, IdempotencyConflict
from core.keys import KeyNotFound, KeyProblem
from core.policy_loader import PolicyError
from domain.access import NotPermitted
from domain.process import IllegalTransition, InvalidEvent, Unavailable
from domain.reviews.model import FindingClosed
from processes.reviews.findings import FindingNotFound
from processes.reviews.runs import ReportNotFound, ReviewNotFound


def field_error(loc: list[str | int], msg: str, kind: str = "value_error") -> JSONResponse:
    return JSONResponse(status_code=422,
                        content={"detail": [{"loc": loc, "msg": msg, "type": kind}]})


async def _server_error(_: Request, exc: Exception) -> JSONResponse:
    """An unforeseen error: a complete answer that ends the connection.

    Starlette raises the error again after this answer, for the server to log, and
    uvicorn then closes the connection; saying so (`Connection: close`) keeps a pooled
    client from sending its next request down a connection about to be closed.
    """
    return JSONResponse(status_code=500, headers={"Connection": "close"},
                        content={"detail": "internal error; the service logged it"})


def unreadable_body(exc: UnicodeDecodeError | RecursionError) -> JSONResponse:
    """422 for a JSON body that cannot be decoded, like a syntax error in it."""
    if isinstance(exc, UnicodeDecodeError):
        return field_error(["body", exc.start], "not valid UTF-8", "json_invalid")
    return field_error(["body"], "nested too deeply", "json_invalid")


def install(app: FastAPI) -> None:
    app.add_exception_handler(Exception, _server_error)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        # FastAPI answers a syntax error in a JSON body with 422, but any other failure to
        # decode it (invalid UTF-8, nesting past Python's recursion limit) with a 400
        # raised from that failure: one kind of mistake, one status.
        if exc.status_code == 400 and isinstance(exc.__cause__,
                                                 UnicodeDecodeError | RecursionError):
            return unreadable_body(exc.__cause__)
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Field, reason and kind only: echoing the input back could fail to serialise (NaN)
        # and would repeat personal data into logs and proxies.
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
                  for e in exc.errors()]
        return JSONResponse(status_code=422, content={"detail": errors})

    @app.exception_handler(Unstorable)
    async def _unstorable(_: Request, exc: Unstorable) -> JSONResponse:
        return field_error(exc.loc, exc.reason)

    @app.exception_handler(CaseNotFound)
    @app.exception_handler(KeyNotFound)
    @app.exception_handler(FindingNotFound)
    @app.exception_handler(ReviewNotFound)
    @app.exception_handler(ReportNotFound)
    async def _not_found(_: Request, exc: LookupError) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": str(exc)})

    @app.exception_handler(NotPermitted)
    async def _not_permitted(_: Request, exc: NotPermitted) -> JSONResponse:
        return JSONResponse(status_code=403, content={"detail": str(exc)})

    @app.exception_handler(KeyProblem)
    async def _bad_key(_: Request, exc: KeyProblem) -> JSONResponse:
        return field_error(["body", exc.field], exc.reason)

    @app.exception_handler(PolicyError)
    async def _bad_policy(_: Request, exc: PolicyError) -> JSONResponse:
        # The running policies stay in force; the message names the file and the field.
        return JSONResponse(status_code=422, content={"detail": {
            "error": "invalid_policy", "message": str(exc)}})

    @app.exception_handler(IllegalTransition)
    async def _illegal(_: Request, exc: IllegalTransition) -> JSONResponse:
        return JSONResponse(status_code=409, content={"detail": {
            "error": "illegal_transition", "message": str(exc), "event": exc.event,
            "stage": exc.stage, "allowed_events": exc.allowed}})

    @app.exception_handler(InvalidEvent)
    async def _invalid(_: Request, exc: InvalidEvent) -> JSONResponse:
        return field_error(["body", *exc.field.split(".")], exc.reason)

    @app.exception_handler(Unavailable)
    async def _unavailable(_: Request, exc: Unavailable) -> JSONResponse:
        # The field and the reason, as for any refusal, and what could be had instead.
        loc = ["body", *exc.field.split(".")]
        alternatives = utc_json(exc.alternatives)
        if exc.taken:
            return JSONResponse(status_code=409, content={"detail": {
                "error": "unavailable", "message": exc.reason, "loc": loc, **alternatives}})
        return JSONResponse(status_code=422, content={"detail": [{
            "loc": loc, "msg": exc.reason, "type": "unavailable", **alternatives}]})

    @app.exception_handler(FindingClosed)
    async def _closed(_: Request, exc: FindingClosed) -> JSONResponse:
        return JSONResponse(status_code=409, content={"detail": {
            "error": "finding_not_open", "message": str(exc), "status": exc.status}})

    @app.exception_handler(IdempotencyConflict)
    async def _reused_key(_: Request, exc: IdempotencyConflict) -> JSONResponse:
        return JSONResponse(status_code=409, content={"detail": {
            "error": "idempotency_key_reused", "message": str(exc)}})
