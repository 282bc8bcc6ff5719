"""Dependencies shared by the routers."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header
from sqlmodel import Session

from core import runtime as runtime_module
from core.runtime import Runtime


def get_runtime() -> Runtime:
    return runtime_module.current()


def get_session(rt: Annotated[Runtime, Depends(get_runtime)]) -> Iterator[Session]:
    with Session(rt.engine, expire_on_commit=False) as session:
        yield session


def get_actor(x_actor: Annotated[str | None, Header(max_length=120)] = None) -> str:
    """Who is acting. Until identities exist (issue 3), the caller names itself."""
    return (x_actor or "api").strip() or "api"


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SessionDep = Annotated[Session, Depends(get_session)]
ActorDep = Annotated[str, Depends(get_actor)]
