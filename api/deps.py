"""Dependencies shared by the routers."""

from collections.abc import Iterator
from contextlib import suppress
from typing import Annotated

from fastapi import Depends, Header, HTTPException
from sqlmodel import Session

from core import runtime as runtime_module
from core.runtime import Runtime
from domain.process import SYSTEM_ACTOR


def get_runtime() -> Runtime:
    return runtime_module.current()


def get_session(rt: Annotated[Runtime, Depends(get_runtime)]) -> Iterator[Session]:
    with Session(rt.engine, expire_on_commit=False) as session:
        yield session


def get_actor(x_actor: Annotated[str | None, Header(max_length=120)] = None) -> str:
    """Who is acting. Until identities exist (issue 3), the caller names itself."""
    actor = (x_actor or "api").strip() or "api"
    with suppress(UnicodeError):
        # Starlette decodes headers as Latin-1; clients send names in UTF-8.
        actor = actor.encode("latin-1").decode("utf-8")
    if actor == SYSTEM_ACTOR:
        raise HTTPException(422, detail=[{"loc": ["header", "x-actor"], "type": "value_error",
                                          "msg": f"{SYSTEM_ACTOR!r} is reserved for the service"}])
    return actor


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SessionDep = Annotated[Session, Depends(get_session)]
ActorDep = Annotated[str, Depends(get_actor)]
