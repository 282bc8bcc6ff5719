"""Liveness and readiness."""

from fastapi import APIRouter
from sqlalchemy import text

from api.deps import RuntimeDep, SessionDep
from api.times import utc_text

router = APIRouter(tags=["health"])


@router.get("/health")
def health(session: SessionDep, rt: RuntimeDep) -> dict[str, object]:
    """The store answers, which policies run, the service's time, and who answered."""
    session.execute(text("SELECT 1"))
    return {"status": "ok", "database": rt.engine.dialect.name,
            "policy_version": rt.policies.version, "now": utc_text(rt.clock.now()),
            "clock_speed": rt.settings.clock_speed,
            # Which process answered: one of several workers, or instances behind a balancer.
            "instance": rt.settings.instance_id}
