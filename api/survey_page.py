"""The customer's survey page: plain HTML that fits a phone, no scripts, no external assets.

It shows nothing about the customer or the case (a forwarded link must not disclose
them) and posts back to its own address, so the token never appears in the page.
"""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse

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


def _page(title: str, content: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
            f"<body><main>{content}</main></body></html>")


def _scale(name: str, question: str, low: int, high: int, ends: tuple[str, str], *,
           required: bool) -> str:
    need = " required" if required else ""
    optional = "" if required else ' <span class="optional">(optional 可選)</span>'
    boxes = "".join(f'<label><input type="radio" name="{name}" value="{n}"{need}>'
                    f"<span>{n}</span></label>" for n in range(low, high + 1))
    return (f"<fieldset><legend>{question}{optional}</legend><div class=\"scale\">{boxes}"
            f'</div><div class="ends"><span>{ends[0]}</span><span>{ends[1]}</span></div>'
            "</fieldset>")


def form_page(error: str | None = None) -> str:
    """The survey: CSAT, NPS, the three dimensions, a comment and an opt-out."""
    notice = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    very = ("Very dissatisfied 非常不滿意", "Very satisfied 非常滿意")
    return _page("How did we do? 服務評價", "".join((
        "<h1>How did we do? 您對我們的服務滿意嗎？</h1>", notice, '<form method="post">',
        _scale("csat", "How satisfied are you with how we handled your request? "
                       "您對本次處理的整體滿意度", 1, 5, very, required=True),
        _scale("nps", "How likely are you to recommend us to a friend? 您向朋友推薦我們的可能性",
               0, 10, ("Not at all 完全不會", "Extremely likely 非常願意"), required=True),
        _scale("speed", "Speed of our response 響應速度", 1, 5, very, required=False),
        _scale("attitude", "Our staff's attitude 服務態度", 1, 5, very, required=False),
        _scale("resolution", "How well the problem was solved 解決效率", 1, 5, very,
               required=False),
        '<fieldset><legend>Anything else? 其他意見 <span class="optional">(optional 可選)'
        f'</span></legend><textarea name="comment" maxlength="{MAX_TEXT}"></textarea>'
        '</fieldset><fieldset><label><input type="checkbox" name="opt_out" value="true"> '
        "Please do not send me satisfaction surveys again. 以後請勿再發送滿意度調查。"
        "</label></fieldset><button type=\"submit\">Send 提交</button></form>")))


def message_page(title: str, message: str) -> str:
    """A page that only says something: thanks, or why the link cannot be used."""
    return _page(title, f"<h1>{escape(title)}</h1><p>{escape(message)}</p>")


def html(body: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    """The page as a response, with the headers that keep the link private."""
    return HTMLResponse(body, status_code=status, headers={**HEADERS, **(headers or {})})
