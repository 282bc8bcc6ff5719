"""Read the message catalogues (.po files under core/locale/) into the domain's context."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

from domain.messages import ZH, MessageContext, language_of

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "caseflow"


@cache
def catalogues(domain: str = DOMAIN) -> dict[str, dict[str, str]]:
    """Each language's translations in the catalogue `domain` (the service's messages, or
    the console's pages), by English source text (read once per process)."""
    found: dict[str, dict[str, str]] = {}
    for path in sorted(LOCALE_DIR.glob(f"*/LC_MESSAGES/{domain}.po")):
        language = language_of(path.parts[-3])
        if language is None:
            continue
        with path.open("rb") as po:
            catalog = read_po(po)
        # A fuzzy or empty entry is not a translation: the English text stands instead.
        found[language] = {str(m.id): str(m.string) for m in catalog
                           if m.id and m.string and not m.fuzzy}
    return found


def message_context(language: str | None = None, public_url: str | None = None
                    ) -> MessageContext:
    """The catalogues with the service's language (zh-Hans unless set) and public URL."""
    context = MessageContext(language=language or ZH, catalogues=catalogues())
    return context.model_copy(update={"public_url": public_url}) if public_url else context
