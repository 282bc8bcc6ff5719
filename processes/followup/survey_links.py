"""Survey links: the secret that signs them, kept out of the store and the log, and the links.

The secret comes from `CASEFLOW_SURVEY_SECRET`, else from `survey-secret` under the data
directory, generated there (readable by its owner only) on the first start. Several
instances must share it: a link one instance sent is answered on any of them.
"""

from __future__ import annotations

import logging
import os
import secrets
from datetime import datetime
from pathlib import Path

from core.settings import Settings
from domain.survey_token import sign

SECRET_FILE = "survey-secret"
MIN_SECRET_LENGTH = 32
log = logging.getLogger("caseflow.surveys")


def resolve_secret(settings: Settings) -> bytes:
    """Return the survey-link secret, generating and saving one on first start if unset."""
    if settings.survey_secret is not None:
        return settings.survey_secret.get_secret_value().encode()
    path = settings.data_dir / SECRET_FILE
    if not path.exists():
        _create(path)
    value = path.read_text(encoding="utf-8").strip()
    if len(value) < MIN_SECRET_LENGTH:
        raise ValueError(f"{path}: the survey secret must have at least {MIN_SECRET_LENGTH} "
                         "characters")
    return value.encode()


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(secrets.token_urlsafe(48) + "\n")
    try:
        # A hard link never replaces a file: of two instances starting together on one
        # data directory, the first wins and both read its secret.
        os.link(draft, path)
        log.warning("Survey links: a signing secret was generated and saved to %s (readable "
                    "by you only). Give every instance the same one (CASEFLOW_SURVEY_SECRET "
                    "or this file).", path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()


def survey_link(base_url: str, secret: bytes, nonce: str, expires_at: datetime) -> str:
    """The link a customer opens to answer the survey with this nonce."""
    return f"{base_url}/s/{sign(secret, bytes.fromhex(nonce), expires_at)}"
