"""The customer's survey page: plain HTML that fits a phone, no scripts, no external assets.

It shows nothing about the customer or the case (a forwarded link must not disclose
them) and posts back to its own address, so the token never appears in the page.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from starlette.responses import HTMLResponse

from domain.messages import MessageContext
from domain.satisfaction import MAX_TEXT

# No scripts, nothing fetched from elsewhere, no referrer: the token is in the address.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
}

_STYLE = """
body{font:16px/1.5 system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;
margin:0;background:#f5f6f8;color:#1d2430}
main{max-width:34rem;margin:0 auto;padding:1rem}
h1{font-size:1.3rem;margin:.5rem 0 1rem}
fieldset{border:0;background:#fff;border-radius:.75rem;margin:0 0 1rem;padding:1rem}
legend{font-weight:600;padding:0;margin-bottom:.5rem;float:left;width:100%}
.scale{display:flex;flex-wrap:wrap;gap:.4rem;clear:both}
.scale label{flex:1 0 2.6rem;text-align:center}
.scale input{position:absolute;opacity:0}
.scale span{display:block;padding:.7rem 0;border:1px solid #c5cbd3;border-radius:.5rem;
background:#fff}
.scale input:checked+span{background:#1d5fd1;color:#fff;border-color:#1d5fd1}
.scale input:focus-visible+span{outline:3px solid #8fb3f0}
.ends{display:flex;justify-content:space-between;font-size:.85rem;color:#5b6472;clear:both}
textarea{width:100%;box-sizing:border-box;min-height:6rem;font:inherit;padding:.5rem;
border:1px solid #c5cbd3;border-radius:.5rem}
button{width:100%;font:inherit;font-weight:600;padding:.9rem;border:0;border-radius:.75rem;
background:#1d5fd1;color:#fff}
.error{background:#fdecea;color:#8a1c12;border-radius:.75rem;padding:.75rem 1rem}
.optional{font-weight:400;color:#5b6472}
"""


def _page(language: str, title: str, content: str) -> str:
    return (f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
            f"<body><main>{content}</main></body></html>")


def _scale(t: Callable[[str], str], name: str, question: str, low: int, high: int,
           ends: tuple[str, str], *, required: bool) -> str:
    need = " required" if required else ""
    optional = "" if required else f' <span class="optional">{escape(t("(optional)"))}</span>'
    boxes = "".join(f'<label><input type="radio" name="{name}" value="{n}"{need}>'
                    f"<span>{n}</span></label>" for n in range(low, high + 1))
    return (f"<fieldset><legend>{escape(t(question))}{optional}</legend><div class=\"scale\">"
            f'{boxes}</div><div class="ends"><span>{escape(t(ends[0]))}</span>'
            f"<span>{escape(t(ends[1]))}</span></div></fieldset>")


def form_page(m: MessageContext, language: str, error: str | None = None) -> str:
    """The survey in `language`: CSAT, NPS, the three dimensions, a comment and an opt-out."""
    def t(msgid: str) -> str:
        return m.text(language, msgid)

    notice = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    very = ("Very dissatisfied", "Very satisfied")
    return _page(language, t("How did we do?"), "".join((
        f"<h1>{escape(t('How did we do?'))}</h1>", notice, '<form method="post">',
        _scale(t, "csat", "How satisfied are you with how we handled your request?", 1, 5,
               very, required=True),
        _scale(t, "nps", "How likely are you to recommend us to a friend?", 0, 10,
               ("Not at all", "Extremely likely"), required=True),
        _scale(t, "speed", "Speed of our response", 1, 5, very, required=False),
        _scale(t, "attitude", "Our staff's attitude", 1, 5, very, required=False),
        _scale(t, "resolution", "How well the problem was solved", 1, 5, very,
               required=False),
        f'<fieldset><legend>{escape(t("Anything else?"))} <span class="optional">'
        f'{escape(t("(optional)"))}</span></legend><textarea name="comment" '
        f'maxlength="{MAX_TEXT}"></textarea></fieldset><fieldset><label><input '
        'type="checkbox" name="opt_out" value="true"> '
        f"{escape(t('Please do not send me satisfaction surveys again.'))}</label></fieldset>"
        f'<button type="submit">{escape(t("Send"))}</button></form>')))


def message_page(language: str, title: str, message: str) -> str:
    """A page that only says something: thanks, or why the link cannot be used."""
    return _page(language, title, f"<h1>{escape(title)}</h1><p>{escape(message)}</p>")


def html(body: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    """The page as a response, with the headers that keep the link private."""
    return HTMLResponse(body, status_code=status, headers={**HEADERS, **(headers or {})})
