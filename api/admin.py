"""Administration: API keys and policy reloads (admin role), and who-am-I (anyone)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from api.auth import AUTH_ERRORS, AdminDep, CheckedFirst, IdentityDep, PolicyAdminDep
from api.deps import RuntimeDep, SessionDep
from api.errors import field_error
from api.schemas import (
    MAX_ID,
    IdentityPublic,
    KeyCreate,
    KeyCreated,
    KeyPublic,
    PolicyReload,
    Problem,
)
from core.keys import create_key, list_keys, revoke_key
from domain.access import AccessRole, ActorKind

router = APIRouter(tags=["access"], route_class=CheckedFirst)


@router.get("/me", response_model=IdentityPublic, responses=AUTH_ERRORS)
def who_am_i(caller: IdentityDep) -> IdentityPublic:
    """The identity your credentials stand for: name, kind, role and teams."""
    return IdentityPublic(name=caller.name, kind=caller.kind, role=caller.role,
                          teams=sorted(caller.teams), key_id=caller.key_id)


@router.post("/admin/keys", status_code=status.HTTP_201_CREATED, response_model=KeyCreated,
             responses={**AUTH_ERRORS, 422: {"model": Problem}})
def create_api_key(body: KeyCreate, session: SessionDep, rt: RuntimeDep,
                   admin: AdminDep) -> KeyCreated | Response:
    """Create an API key for a person or an integration; the key is shown this once."""
    if body.expires_at is not None and body.expires_at.tzinfo is None:
        return field_error(["body", "expires_at"], "needs a timezone")
    new = create_key(session, name=body.name, role=AccessRole(body.role), teams=body.teams,
                     kind=ActorKind(body.kind), expires_at=body.expires_at,
                     created_by=admin.name, policies=rt.policies, now=rt.clock.now())
    return KeyCreated(**KeyPublic.model_validate(new.record, from_attributes=True).model_dump(),
                      key=new.secret)


@router.get("/admin/keys", response_model=list[KeyPublic], responses=AUTH_ERRORS)
def list_api_keys(session: SessionDep, _: AdminDep,
                  include_revoked: bool = False) -> list[KeyPublic]:
    """Every API key (never the key itself), oldest first."""
    return [KeyPublic.model_validate(k, from_attributes=True)
            for k in list_keys(session, include_revoked=include_revoked)]


@router.post("/admin/keys/{key_id}/revoke", response_model=KeyPublic,
             responses={**AUTH_ERRORS, 404: {"model": Problem}})
def revoke_api_key(key_id: Annotated[int, Path(ge=1, le=MAX_ID)], session: SessionDep,
                   rt: RuntimeDep, admin: AdminDep) -> KeyPublic:
    """Revoke a key: its next request is refused. Revoking twice changes nothing."""
    record = revoke_key(session, key_id, by=admin.name, now=rt.clock.now())
    return KeyPublic.model_validate(record, from_attributes=True)


@router.post("/admin/policies/reload", response_model=PolicyReload,
             responses={**AUTH_ERRORS, 422: {"model": Problem}})
def reload_policies(rt: RuntimeDep, _: PolicyAdminDep) -> PolicyReload:
    """Read the policy files again; a bad file is refused and the running policies stay."""
    previous, version = rt.reload_policies()
    return PolicyReload(previous_version=previous, version=version, changed=previous != version)
