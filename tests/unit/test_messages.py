"""What people read: each message kind in Simplified Chinese and English, and the catalogue."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from babel.messages.pofile import read_po

from core.i18n import LOCALE_DIR
from domain.digest import LINES_IN_FULL, DigestLine, compose_digest
from domain.messages import EN, ZH, local_time, negotiate
from domain.process import UNRANKED, CustomerContact
from tests.unit.builders import POLICIES, sh
from tests.unit.test_escalation import fire, with_steps

M = POLICIES.messages
SNAKE = re.compile(r"\b[a-z]+_[a-z_]+\b")


def escalation(**changes: object):  # type: ignore[no-untyped-def]
    c = replace(with_steps(1), subject="Refund not received",
                customer=CustomerContact(name="Chen Jing", phone="13800138000"), **changes)
    decision = fire(c, 1)
    assert decision is not None
    return decision.notices[0]


def test_an_escalation_reads_in_simplified_chinese_first_then_english() -> None:
    notice = escalation()
    zh_subject, en_subject = notice.subject.split(" / ")
    assert zh_subject == ("[投诉 #7] 超时：首次响应已达 100%，截止 2026-11-20 10:20 (UTC+08:00)"
                          "（普通）：Refund not received")
    assert en_subject == ("[complaint #7] breach: first response at 100%, due "
                          "2026-11-20 10:20 (UTC+08:00) (ordinary): Refund not received")
    zh, en = notice.body.split("\n\n")
    for text, words in ((zh, ("首次响应计时已达目标（20分钟）",
                              "下一级：经理，达 150% 时通知主管、经理", "负责人 li.wei",
                              "客户：Chen Jing", "电话 138****8000")),
                        (en, ("first response clock reached 100% of its target (20 minutes)",
                              "Next: manager at 150% tells supervisor, manager",
                              "assignee li.wei", "Customer: Chen Jing", "phone 138****8000"))):
        assert all(word in text for word in words), text
        assert "2026-11-20 10:20 (UTC+08:00)" in text and "http://127.0.0.1:8000/cases/7" in text
        assert not SNAKE.search(text.replace("li.wei", "")), text  # no code names
        assert notice.key not in text and "[key" not in text


def test_the_last_rung_says_so_and_a_case_without_priority_shows_none() -> None:
    c = replace(with_steps(3), priority=UNRANKED)
    decision = fire(c, 3)
    assert decision is not None
    notice = decision.notices[0]
    assert "这是最后一级。" in notice.body and "This is the last rung." in notice.body
    assert "normal" not in notice.subject + notice.body


def test_a_digest_keeps_each_line_s_due_time_customer_and_assignee() -> None:
    notice = escalation()
    lines = [DigestLine(id=n, key=f"k{n}", case_id=n) for n in (1, 2)]
    texts = dict.fromkeys((1, 2), (notice.subject, notice.body))
    title, body = compose_digest(lines, texts, M)
    assert title == ("Caseflow：2 条升级需要您处理 / Caseflow: 2 escalations need your attention")
    for detail in ("截止 2026-11-20 10:20", "Chen Jing", "assignee li.wei", "/cases/7"):
        assert body.count(detail) >= 2, detail
    assert "k1" not in body  # keys travel as headers, not in the text
    assert "/console/queue" not in body  # every line is there in full
    assert compose_digest(lines[:1], texts, M) == (notice.subject, notice.body)


def test_a_storm_s_digest_counts_what_it_covers_and_shows_the_most_urgent_in_full() -> None:
    due = datetime(2026, 11, 20, 2, 20, tzinfo=UTC)
    warnings = [DigestLine(id=n, key=f"w{n}", case_id=n, process="complaint",
                           team="complaints", rung="warning", level=0,
                           due_at=due - timedelta(minutes=5)) for n in range(3000)]
    breaches = [DigestLine(id=10_000 + n, key=f"b{n}", case_id=n, process="complaint",
                           team="billing", rung="breach", level=1,
                           due_at=due + timedelta(seconds=n)) for n in range(7000)]
    # Only the lines shown need their text.
    texts = {line.id: (f"breach {line.id - 10_000}", "b") for line in breaches[:LINES_IN_FULL]}
    title, body = compose_digest(warnings + breaches, texts, M)
    assert title.startswith("Caseflow：10,000 条升级需要您处理 / Caseflow: 10,000 escalations")
    summary_zh, summary_en, listed = body.split("\n\n", 2)
    assert summary_zh.splitlines() == [
        "本摘要涵盖 7,000 个工单的 10,000 条通知：",
        "- 投诉，billing 组：超时（第 1 级）：7,000 条",
        "- 投诉，complaints 组：预警（第 0 级）：3,000 条",
        "以下列出最紧急的 50 条全文；全部请在队列中查看：http://127.0.0.1:8000/console/queue"]
    assert summary_en.splitlines()[:2] == [
        "This digest covers 10,000 notifications on 7,000 cases:",
        "- complaint, team billing: breach (level 1): 7,000"]
    # The highest level first, the longest overdue first within it; fifty in full.
    shown = re.findall(r"^\d+\. (.+)$", listed, re.MULTILINE)
    assert shown == [f"breach {n}" for n in range(LINES_IN_FULL)]


@pytest.mark.parametrize(("span", "zh", "en"), [
    (timedelta(minutes=20), "20分钟", "20 minutes"), (timedelta(hours=1), "1小时", "1 hour"),
    (timedelta(minutes=90), "1小时30分钟", "1 hour 30 minutes"),
    (timedelta(days=1, hours=4), "1天4小时", "1 day 4 hours"),
    (timedelta(0), "0秒钟", "0 seconds")])
def test_durations_read_as_people_say_them(span: timedelta, zh: str, en: str) -> None:
    assert (M.duration(ZH, span), M.duration(EN, span)) == (zh, en)


def test_times_are_to_the_minute_in_the_zone() -> None:
    moment = datetime(2026, 12, 5, 21, 52, 35, 978787, tzinfo=UTC)
    assert local_time(moment, sh(2026, 1, 1).tzinfo) == "2026-12-06 05:52 (UTC+08:00)"


@pytest.mark.parametrize(("header", "language"), [
    (None, ZH), ("", ZH), ("en-US,en;q=0.9", EN), ("zh-CN,en;q=0.5", ZH),
    ("fr-FR, en;q=0.8, zh;q=0.9", ZH), ("de", ZH), ("zh-TW", ZH), ("en;q=0", ZH)])
def test_the_browser_s_language_is_honoured_when_we_write_it(header: str | None,
                                                              language: str) -> None:
    assert negotiate(header, ZH) == language


def test_every_catalogue_entry_keeps_its_placeholders() -> None:
    """A translation that drops or renames a {placeholder} would fail at send time."""
    files = sorted(LOCALE_DIR.glob("*/LC_MESSAGES/caseflow.po"))
    assert [po.parts[-3] for po in files] == ["en", "zh_Hans"]
    for po in files:
        with po.open("rb") as file:
            catalog = read_po(file)
        entries = [m for m in catalog if m.id]
        assert entries and all(m.string for m in entries)
        for m in entries:
            assert set(re.findall(r"{\w+}", m.id)) == set(re.findall(r"{\w+}", m.string)), m.id


def test_the_summary_counts_one_detractor_in_the_singular() -> None:
    from processes.reviews.satisfaction import counted
    assert (counted(1, "detractor"), counted(2, "detractor")) == ("1 detractor", "2 detractors")


def test_every_stage_clock_rung_role_and_priority_has_a_chinese_name() -> None:
    """Nothing a message names reads as a code (`first_response`) in Chinese."""
    from domain.catalogue import definitions
    from domain.policy import Role

    names = {("role", r.value) for r in Role}
    names |= {("priority", p) for p in POLICIES.complaint.priorities}
    names |= {("clock", c) for c in ("first_response", "resolution", "call", "triage", "team",
                                     "first_notice", "update_3", "review", "plan", "act",
                                     "confirmation", "wait", "completion")}
    for process in definitions().values():
        names |= {("stage", s) for s in process.TABLE.stages}
        names |= {("rung", step.name) for step in process.ladder(POLICIES)}
    missing = [f"{kind}:{code}" for kind, code in names
               if M.name(ZH, kind, code) == code.replace("_", " ")]
    assert missing == []
    assert M.name(ZH, "clock", "update_3") == "第 3 次状态更新"
    assert M.name(EN, "clock", "first_response") == "first response"


def _shipped_templates() -> list[tuple[str, str]]:
    from domain.crisis.policy import CrisisPolicy
    from domain.followup.rules import policy_of
    from domain.service_request.policy import ServiceRequestPolicy

    crisis = POLICIES.process_policy("crisis", CrisisPolicy)
    service = POLICIES.process_policy("service_request", ServiceRequestPolicy)
    followup = policy_of(POLICIES)
    found = {"survey": followup.survey, "survey reminder": followup.reminder,
             "birthday": POLICIES.greetings.birthday, "holiday": POLICIES.greetings.holiday,
             "appointment reminder": service.reminder, "no-show offer": service.reschedule_offer,
             "apology": crisis.compensation,
             **{f"{name} notice": channel for name, channel in crisis.channels.items()}}
    return [(f"{kind} {part}", getattr(template, part)) for kind, template in found.items()
            for part in ("subject", "body")]


@pytest.mark.parametrize(("kind", "template"), _shipped_templates())
def test_each_shipped_customer_message_reads_in_chinese_and_in_english(kind: str,
                                                                        template: str) -> None:
    values = {name: f"<{name}>" for name in re.findall(r"{(\w+)}", template)}
    english = M.for_customers(template, language=EN, **values)
    chinese = M.for_customers(template, **values)  # the service's language by default
    assert english == template.format(**values)
    if not re.sub(r"{\w+}", "", template).strip():
        return  # only placeholders ("{title}"): nothing to translate
    assert chinese != english and re.search(r"[\u4e00-\u9fff]", chinese), kind
    assert not re.search(r"[A-Za-z]{3,}", re.sub(r"<\w+>", "", chinese)), chinese


def test_a_webhook_url_carries_the_keys_as_headers_other_urls_stay_as_they_are() -> None:
    from engine.notifier import with_keys

    assert with_keys("json://127.0.0.1:9/hook", "7:first_response:1:li.wei", []) == (
        "json://127.0.0.1:9/hook?%2BIdempotency-Key=7%3Afirst_response%3A1%3Ali.wei")
    assert with_keys("jsons://h/x?:extra=1", "digest:ab", ["a:1", "b:2"]) == (
        "jsons://h/x?:extra=1&%2BIdempotency-Key=digest%3Aab&%2BX-Caseflow-Keys=a%3A1%20b%3A2")
    assert with_keys("mailto://u:p@example.com", "k", []) == "mailto://u:p@example.com"
    assert with_keys("json://h/x", None, []) == "json://h/x"


def test_the_settings_choose_the_language_and_where_case_links_start(tmp_path) -> None:
    from core.policy_loader import load_policies
    from core.runtime import message_settings
    from core.settings import Settings
    from tests.unit.builders import SHIPPED_POLICIES

    settings = Settings(policies=SHIPPED_POLICIES, data_dir=tmp_path, language="en",
                        public_url="https://caseflow.example.cn/")
    m = load_policies(SHIPPED_POLICIES, **message_settings(settings)).messages
    assert m.for_customers("How did we do?") == "How did we do?"
    assert m.case_link("complaint", 7) == "https://caseflow.example.cn/cases/7"
    assert Settings(policies=SHIPPED_POLICIES, data_dir=tmp_path).language == ZH
