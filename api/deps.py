"""Dependencies shared by the routers: the runtime and a database session."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from sqlmodel import Session

from core import runtime as runtime_module
from core.runtime import Runtime


async def get_runtime() -> Runtime:
    # async: a plain function dependency would cost a trip through the thread pool.
    return runtime_module.current()


def get_session(rt: Annotated[Runtime, Depends(get_runtime)]) -> Iterator[Session]:
    with Session(rt.engine, expire_on_commit=False) as session:
        yield session


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SessionDep = Annotated[Session, Depends(get_session)]
