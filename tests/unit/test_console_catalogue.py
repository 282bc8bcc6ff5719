"""Every text the console says has its Simplified Chinese in the `console` catalogue."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from api.console.wording import Wording, console_catalogues
from domain.messages import EN, ZH
from processes.reviews.trend_chart import ChartWords

CONSOLE = Path(__file__).resolve().parents[2] / "api" / "console"
# t("...") and words("...") in the templates and the modules (English source texts).
SAID = re.compile(r"""\b(?:t|words)\(\s*(["'])((?:(?!\1).)+)\1""")


def said() -> set[str]:
    found = set()
    for path in [*CONSOLE.glob("*.py"), *CONSOLE.glob("templates/*.html")]:
        for match in SAID.finditer(path.read_text()):
            found.add(match[2])
    return found


def test_every_console_text_has_a_translation() -> None:
    texts = said()
    assert len(texts) > 50
    missing = sorted(texts - set(console_catalogues()[ZH]))
    assert not missing


def test_durations_read_as_people_say_them() -> None:
    from datetime import timedelta

    zh, en = Wording(ZH), Wording(EN)
    assert zh.left(timedelta(minutes=12, seconds=40)) == "还剩 12 分钟"
    assert zh.left(-timedelta(hours=1, minutes=5)) == "已超时 1 小时 5 分钟"
    assert en.left(timedelta(minutes=12)) == "12 min left"
    assert en.left(-timedelta(hours=1, minutes=5, seconds=59)) == "overdue by 1 h 5 min"
    assert en.left(timedelta(days=2, minutes=3)) == "2 d 3 min left"
    assert zh.left(timedelta(seconds=30)) == "还剩 不到 1 分钟"


def test_the_trend_charts_texts_have_their_chinese() -> None:
    english = ChartWords()
    texts = [getattr(english, field.name) for field in fields(ChartWords)]
    missing = [text for text in texts if text not in console_catalogues()[ZH]]
    assert not missing


def test_every_priority_a_case_can_have_has_its_chinese_name() -> None:
    from core.policy_loader import load_policies
    from domain.process import UNRANKED

    policies = load_policies(Path(__file__).resolve().parents[2] / "policies")
    priorities = {*policies.complaint.priorities, UNRANKED}
    zh = Wording(ZH)
    assert {p: zh.name("priority", p) for p in priorities if zh.name("priority", p) == p} == {}
