"""Review reports as staff read them: Simplified Chinese first, English beside; figures by
Babel; codes by their names; a team's section in that team's language."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from domain.messages import EN, ZH
from domain.reviews.reports import (
    cell,
    markdown_table,
    render_markdown,
    report_view,
    run_artifacts,
)
from domain.reviews.wording import Counted, Number, Percent, period, said
from tests.unit.builders import POLICIES

M = POLICIES.messages
EN_FIRST = M.model_copy(update={"language": EN})
SH = ZoneInfo("Asia/Shanghai")
SNAKE = re.compile(r"\b[a-z]+_[a-z_]+\b")

DIGEST = {
    "review": "daily-sla-digest", "title": "Daily SLA digest",
    "period": {"start": "2026-11-19T00:00:00+08:00", "end": "2026-11-20T00:00:00+08:00",
               "timezone": "Asia/Shanghai"},
    "now": "2026-11-20T09:00:04.123456+08:00",
    "summary": [said(M, "{breached} breached in the period; {at_risk} at risk and {overdue} "
                     "overdue now.", breached=Counted(1, "{n} clock", "{n} clocks"),
                     at_risk=2, overdue=1234)],
    "tables": {
        "teams": [{"team": "billing", "breached_in_period": 1, "at_risk_now": 2,
                   "overdue_now": 1234}],
        "breaches": [{"case_id": 12345, "team": "billing", "clock": "first_response",
                      "priority": "urgent", "assignee": None,
                      "at": "2026-11-19T13:21:09.5+08:00"}],
        "at-risk": []},
    "teams": {"billing": {"summary": [], "tables": {"breaches": []}}},
    "findings": [3, 4],
}


def _plain(text: str) -> str:
    return text.replace("\u2009", " ")


def test_a_report_reads_in_simplified_chinese_first_then_english() -> None:
    markdown = _plain(render_markdown(DIGEST, M))
    assert markdown.startswith("# 每日 SLA 摘要 / Daily SLA digest\n")
    assert "周期：2026年11月19日（Asia/Shanghai）；计算于 2026-11-20 09:00 (UTC+08:00)。" \
        in markdown
    assert "Period: Nov 19, 2026 (Asia/Shanghai); computed at 2026-11-20 09:00 (UTC+08:00)." \
        in markdown
    assert ("- 本周期内 1 个计时超时；目前 2 个有超时风险，1,234 个已逾期。\n"
            "  1 clock breached in the period; 2 at risk and 1,234 overdue now.") in markdown
    assert "## 本周期超时 / breaches in the period" in markdown
    assert "| 工单 / case | 团队 / team | 计时 / clock | 优先级 / priority | 负责人 / assignee " \
           "| 时间 / time |" in markdown
    # An id is not an amount (no grouping); a time is local, to the minute; None a dash.
    assert "| 12345 | billing | 首次响应 | 紧急 | — | 2026-11-19 13:21 (UTC+08:00) |" in markdown
    assert "## 有超时风险 / at risk\n\n_无 / none_" in markdown
    assert "已加入改进待办的发现：#3、#4。\n\nFindings added to the improvement backlog: #3, #4." \
        in markdown
    assert not SNAKE.search(markdown.replace("Asia/Shanghai", "")), markdown


def test_with_english_chosen_english_comes_first_and_cells_follow_it() -> None:
    markdown = _plain(render_markdown(DIGEST, EN_FIRST))
    assert markdown.startswith("# Daily SLA digest / 每日 SLA 摘要\n")
    assert markdown.index("Period: Nov 19") < markdown.index("周期：")
    assert "| 12345 | billing | first response | urgent | — |" in markdown
    assert "| case / 工单 | team / 团队 |" in markdown


def test_a_team_s_section_is_in_that_team_s_language() -> None:
    result = {**DIGEST, "teams": {"billing": {
        "summary": [said(EN_FIRST, "Reminder sent to {supervisor} for {quarter}.",
                         supervisor="wang.fang", quarter="2026-Q4")],
        "tables": {"breaches": DIGEST["tables"]["breaches"]}}}}
    markdown = _plain(render_markdown(result, M, lambda team: EN_FIRST))
    section = markdown[markdown.index("## Team billing / billing 团队"):]
    assert section.startswith("## Team billing / billing 团队\n\n- Reminder sent to wang.fang "
                              "for 2026-Q4.\n  已向 wang.fang 发送 2026-Q4 的提醒。")
    assert "| 12345 | billing | first response | urgent |" in section
    assert markdown.startswith("# 每日 SLA 摘要")  # the rest in the service's language


@pytest.mark.parametrize(("column", "value", "unit", "zh", "en"), [
    ("value", 0.7857, "ratio", "78.6%", "78.6%"),
    ("value", 642.0, "seconds", "10.7 分钟", "10.7 min"),
    ("value", 3.1666, "score", "3.17", "3.17"),
    ("share", 0.5, None, "50.0%", "50.0%"),
    ("cases", 12500, None, "12,500", "12,500"),
    ("meets_target", True, None, "是", "yes"),
    ("meets_target", False, None, "否", "no"),
    ("kpi", "complaint_on_time_rate.resolution", "ratio", "投诉准时率（解决）",
     "complaint on-time rate (resolution)"),
    ("kpi", "csat_satisfied_share", "ratio", "满意占比（CSAT 4 或 5）",
     "share satisfied (CSAT 4 or 5)"),
    ("unit", "seconds", None, "时长", "time"),
    ("indicator", "response speed (§1.1.19(2))", None, "响应速度（§1.1.19(2)）",
     "response speed (§1.1.19(2))"),
    ("case_ids", [3, 4], None, "3、4", "3, 4"),
    # On one line; the markdown table escapes its "|" (test_review_policies), a page need not.
    ("category", "late | box\ndelivery", None, "late | box delivery", "late | box delivery"),
    ("basis", None, None, "—", "—"),
])
def test_each_cell_reads_as_its_language_writes_it(column: str, value: object,
                                                   unit: str | None, zh: str, en: str) -> None:
    assert cell(column, value, unit, m=M, language=ZH) == zh
    assert cell(column, value, unit, m=M, language=EN) == en


def test_the_nps_basis_counts_in_each_language_and_names_no_column_of_its_own() -> None:
    rows = [{"kpi": "nps", "unit": "nps", "value": 20.0, "basis": "3 promoters, ...",
             "numerator": None, "denominator": None, "target": None, "meets_target": None,
             "promoters": 1, "passives": 0, "detractors": 2}]
    table = markdown_table(rows, M)
    assert "| 净推荐值（NPS） | NPS | 20 | 1 位推荐者、0 位中立者、2 位贬损者 | — | — |" in table
    assert "promoters" not in table.splitlines()[0]
    english = markdown_table(rows, EN_FIRST)
    assert "| NPS | NPS | 20 | 1 promoter, 0 passives, 2 detractors | — | — |" in english


def test_periods_and_figures_are_written_by_babel() -> None:
    def at(*args: int) -> datetime:
        return datetime(*args, tzinfo=SH)
    assert _plain(period(ZH, at(2026, 10, 1), at(2027, 1, 1))) == "2026年10月1日 – 12月31日"
    assert _plain(period(EN, at(2026, 10, 1), at(2027, 1, 1))) == "Oct 1 – Dec 31, 2026"
    assert _plain(period(EN, at(2026, 12, 28), at(2027, 1, 4))) == "Dec 28, 2026 – Jan 3, 2027"
    assert Percent(None).said(M, ZH) == "无数据" and Percent(None).said(M, EN) == "n/a"
    assert Number(20.0, 0, signed=True).said(M, EN) == "+20"
    assert Number(-4.0, 0, signed=True).said(M, EN) == "-4"
    assert [Counted(n, "{n} detractor", "{n} detractors").said(M, EN) for n in (1, 2)] == [
        "1 detractor", "2 detractors"]


def test_the_markdown_artifact_is_the_rendered_report_and_tables_stay_data() -> None:
    artifacts = run_artifacts("daily-sla-digest", 9, DIGEST, M, lambda team: M)
    assert artifacts[0].content == render_markdown(DIGEST, M, lambda team: M)
    assert [a.key for a in artifacts] == ["daily-sla-digest", "daily-sla-digest-teams",
                                          "daily-sla-digest-breaches", "daily-sla-digest-at-risk"]
    assert artifacts[1].content == DIGEST["tables"]["teams"]


def test_an_operator_s_own_title_is_kept_as_written() -> None:
    result = {**DIGEST, "title": "Nightly {team} check"}
    assert render_markdown(result, M).startswith("# Nightly {team} check\n")


@pytest.mark.parametrize("language", [ZH, EN])
def test_the_pages_report_is_the_markdowns_in_one_language(language: str) -> None:
    view = report_view(DIGEST, language, M, lambda team: EN_FIRST)
    markdown = render_markdown(DIGEST, M, lambda team: EN_FIRST)
    other = EN if language == ZH else ZH
    assert view.title == M.translated(language, "Daily SLA digest") and view.title in markdown
    assert view.period in markdown and "13:21" not in view.period
    overall, billing = view.sections
    assert billing.heading == EN_FIRST.text(language, "Team {team}", team="billing")
    assert billing.summary == [] and billing.tables[0].rows == []
    [line] = overall.summary
    assert line in DIGEST["summary"][0].splitlines()
    assert line != said_line(other)
    teams, breaches, at_risk = overall.tables
    assert breaches.headers == [M.name(language, "column", c) for c in DIGEST["tables"][
        "breaches"][0]] and breaches.rows[0][-1] == "2026-11-19 13:21 (UTC+08:00)"
    assert at_risk.heading == M.name(language, "table", "at-risk") and at_risk.rows == []
    assert not any(SNAKE.search(h) for t in overall.tables for h in [t.heading, *t.headers])
    assert view.findings == M.text(language, "Findings added to the improvement backlog: "
                                   "{ids}.", ids=M.text(language, ", ").join(["#3", "#4"]))


def said_line(language: str) -> str:
    lines = DIGEST["summary"][0].splitlines()
    return lines[M.staff_languages().index(language)]


def test_a_period_not_cut_at_midnight_is_said_to_the_minute() -> None:
    shifted = {**DIGEST, "period": {"start": "2026-11-19T09:30:00+08:00",
                                    "end": "2026-11-20T09:30:00+08:00",
                                    "timezone": "Asia/Shanghai"}}
    assert "2026-11-19 09:30 至 2026-11-20 09:30" in report_view(shifted, ZH, M).period
    assert "2026-11-19 09:30 to 2026-11-20 09:30" in report_view(shifted, EN, M).period
