"""Service settings, read once from `CASEFLOW_*` environment variables; bad values fail fast."""

from __future__ import annotations

import os
import socket
import sys
from functools import cache, cached_property
from importlib import metadata
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
# Where the wheel puts the default policies, below the environment's data directory
# (pyproject.toml's data-files): policies/ stays at the repository's root, where it is edited.
SHIPPED_POLICIES = Path("share", "caseflow", "policies")


@cache
def default_policies() -> Path:
    """The checkout's policies/, or, in an installed package, the copy shipped with it."""
    if (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "policies").is_dir():
        return REPO_ROOT / "policies"
    try:
        files = metadata.distribution("caseflow").files or []
    except metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.parts[-4:-1] == SHIPPED_POLICIES.parts:
            return Path(str(file.locate())).parent.resolve()
    return Path(sys.prefix) / SHIPPED_POLICIES


class Settings(BaseSettings):
    """Everything the service reads from its environment, with embedded defaults."""

    model_config = SettingsConfigDict(env_prefix="CASEFLOW_", extra="ignore")

    # `.data` in the directory the service starts in (`tools/dev.py up`: the checkout's).
    data_dir: Path = Field(default=Path(".data"), validate_default=True)
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; SQLite under data_dir when unset")
    policies: Path = Field(default_factory=default_policies)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # The embedded mode's Prefect API and UI, on 127.0.0.1 (core.prefect_server).
    prefect_port: int = Field(default=4200, ge=1, le=65535)
    # Server processes on the one port. A process runs Python one core at a time, so on a
    # machine with more cores, more workers open more complaints per second; one of them
    # runs the scheduler (see core.workers).
    workers: int = Field(default=1, ge=1, le=64)
    clock_speed: float = Field(default=1.0, gt=0, le=10_000,
                               description="60 makes a 20-minute SLA breach in 20 seconds")
    sweep_interval_seconds: float = Field(default=1.0, gt=0, le=3600)
    # In Prefect mode each batch of timers is one flow run, whose overhead (about a second
    # here) is paid per run: a storm of 10,000 breaches was recorded in 28.3 s in batches
    # of 500, 15.5 s in 2,000 and 10.7 s in one of 10,000. A batch is fired in chunks
    # that commit as they go.
    sweep_batch_size: int = Field(default=10_000, ge=1, le=100_000)
    # Claims are renewed while their batch runs (engine.claims.Leases), so the lease only
    # says how soon a dead instance's claims return to the queue.
    claim_lease_seconds: float = Field(default=10.0, gt=0)
    scheduler_enabled: bool = True
    # False in the server mode, where prefect.yaml's review deployments run the reviews.
    review_scheduler_enabled: bool = True
    flow_runner: str = Field(default="prefect", pattern="^(prefect|inline)$")
    notify_max_attempts: int = Field(default=5, ge=1, le=50)
    notify_retry_seconds: float = Field(default=30.0, gt=0)
    instance_id: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    log_level: str = "INFO"
    # json: one JSON object a line (time in UTC, level, logger, message, request id...).
    log_format: Literal["text", "json"] = "text"
    # When set, GET /metrics wants it as a bearer token; unset, /metrics is open, as
    # /health is (docs/operations.md).
    metrics_key: SecretStr | None = Field(default=None, min_length=16)
    # Bearer tokens from the organisation's OpenID Connect provider (optional).
    oidc_issuer: str | None = Field(default=None, description="the `iss` tokens must carry")
    oidc_audience: str | None = Field(default=None, description="the `aud` tokens must carry")
    oidc_jwks_url: str | None = Field(default=None, description="the provider's key set")
    oidc_algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])
    # `sub` by default: providers let users edit preferred_username, and the name decides
    # which assigned cases a caller sees; use another claim only if the provider owns it.
    oidc_name_claim: str = "sub"
    oidc_role_claim: str = "caseflow_role"
    oidc_teams_claim: str = "caseflow_teams"
    # The console's "sign in with your organisation" (the authorization-code flow with
    # PKCE): this service's client at the provider, and the provider's two endpoints.
    # The access token it obtains is checked as a bearer token is (the settings above).
    oidc_client_id: str | None = Field(default=None, description="the console's client id")
    oidc_client_secret: SecretStr | None = Field(
        default=None, description="for a confidential client; a public one uses PKCE only")
    oidc_authorization_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    oidc_token_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    # Optional: where signing out of the console also ends the provider's session
    # (OpenID Connect RP-Initiated Logout); unset, signing out ends the console's alone.
    oidc_end_session_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    # Signs survey links (HMAC-SHA256); generated into data_dir/survey-secret when unset.
    survey_secret: SecretStr | None = Field(default=None, min_length=32)
    public_url: str | None = Field(
        default=None, pattern=r"^https?://[^\s]+$",
        description="where customers reach the service; survey and case links start with it")
    # Larger bodies are refused (413) before they are read. The largest a client needs:
    # a complaint's 20,000 characters, 120 kB even if each is \u-escaped, or the 10,000
    # case ids a crisis links at once, 110 kB.
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=1_073_741_824)
    # Token buckets per client address (0: no limit): this many at once, refilled at this
    # many a minute. Failed authentications (401) and survey-link requests; a client past
    # its limit gets 429 with Retry-After.
    auth_failures_per_minute: int = Field(default=30, ge=0, le=1_000_000)
    survey_requests_per_minute: int = Field(default=120, ge=0, le=1_000_000)
    language: Literal["zh-Hans", "en"] = Field(
        default="zh-Hans", description="the language customers read unless theirs is known; "
        "staff messages are in Simplified Chinese with English beside it")

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        """What the start-up line shows, and what a later change of directory keeps."""
        return path.expanduser().absolute()

    @model_validator(mode="after")
    def _check_policies_dir(self) -> Settings:
        if not self.policies.is_dir():
            raise ValueError(f"CASEFLOW_POLICIES: {self.policies} is not a directory")
        oidc = {"CASEFLOW_OIDC_ISSUER": self.oidc_issuer, "CASEFLOW_OIDC_AUDIENCE":
                self.oidc_audience, "CASEFLOW_OIDC_JWKS_URL": self.oidc_jwks_url}
        if any(oidc.values()) and not all(oidc.values()):
            missing = [name for name, value in oidc.items() if not value]
            raise ValueError(f"bearer tokens need all of {list(oidc)}; missing {missing}")
        sign_in = {"CASEFLOW_OIDC_CLIENT_ID": self.oidc_client_id,
                   "CASEFLOW_OIDC_AUTHORIZATION_URL": self.oidc_authorization_url,
                   "CASEFLOW_OIDC_TOKEN_URL": self.oidc_token_url}
        if any(sign_in.values()) and not all({**sign_in, **oidc}.values()):
            missing = [name for name, value in {**sign_in, **oidc}.items() if not value]
            raise ValueError(f"signing in with the identity provider needs all of "
                             f"{list({**sign_in, **oidc})}; missing {missing}")
        if self.oidc_end_session_url and not self.oidc_sign_in:
            raise ValueError("CASEFLOW_OIDC_END_SESSION_URL signs people out of the identity "
                             f"provider they signed in with: it needs all of {list(sign_in)}")
        return self

    @property
    def oidc_sign_in(self) -> bool:
        """Whether the console offers signing in with the identity provider."""
        return bool(self.oidc_client_id and self.oidc_authorization_url and self.oidc_token_url)

    @property
    def resolved_public_url(self) -> str:
        """The base of links sent to customers, without a trailing slash."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @cached_property
    def resolved_database_url(self) -> str:
        """The database URL, with the psycopg 3 driver for PostgreSQL."""
        url = self.database_url or f"sqlite:///{self.data_dir / 'caseflow.db'}"
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix):]
        return url
