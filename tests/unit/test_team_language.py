"""A team's language: chosen in teams.yaml, checked at start-up, followed by staff messages."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from domain.digest import DigestLine, compose_digest
from domain.escalation import step_due
from domain.messages import EN, ZH
from domain.timers import escalation_key
from tests.unit.builders import LADDER, POLICIES
from tests.unit.test_escalation import CALS, FR, LATE, fire, with_steps
from tests.unit.test_policies import copy_policies, edit, error_for


def _with_team_language(language: str | None):  # type: ignore[no-untyped-def]
    team = POLICIES.teams["complaints"].model_copy(update={"language": language})
    return POLICIES.model_copy(update={"teams": {**POLICIES.teams, "complaints": team}})


def test_a_team_s_language_is_read_from_teams_yaml_in_any_usual_spelling(tmp_path: Path
                                                                         ) -> None:
    from core.policy_loader import load_policies

    d = copy_policies(tmp_path / "p")
    edit(d, "teams.yaml", lambda x: x["teams"]["billing"].update(language="en-US"))
    policies = load_policies(d)
    assert policies.teams["billing"].language == EN
    assert policies.teams["complaints"].language is None
    assert policies.staff_messages("billing").language == EN
    assert policies.staff_messages("complaints").language == ZH


def test_an_unknown_language_stops_start_up_naming_the_file_and_the_field(tmp_path: Path
                                                                          ) -> None:
    d = copy_policies(tmp_path / "p")
    edit(d, "teams.yaml", lambda x: x["teams"]["billing"].update(language="fr"))
    message = error_for(d)
    assert str(d / "teams.yaml") in message
    assert "teams.billing.language" in message
    assert "unknown language 'fr'; use one of zh-Hans, en" in message


def test_an_escalation_to_an_english_team_reads_in_english_first() -> None:
    policies = _with_team_language("en")
    c = replace(with_steps(1), subject="Refund not received")
    decision = step_due(c, clock_name=FR, step_index=1, ladder=LADDER, policies=policies,
                        calendars=CALS, timer_key=escalation_key(c.id, FR, 1), now=LATE)
    assert decision is not None
    notice = decision.notices[0]
    en_subject, zh_subject = notice.subject.split(" / ")
    assert en_subject.startswith("[complaint #7] breach: first response at 100%")
    assert zh_subject.startswith("[投诉 #7] 超时：首次响应已达 100%")
    en, zh = notice.body.split("\n\n")
    assert en.startswith("complaint #7: Refund not received") and "Open the case" in en
    assert zh.startswith("投诉 #7：Refund not received") and "打开工单" in zh
    # Without a language of its own the team reads the service's: Chinese first.
    default = fire(c, 1)
    assert default is not None and default.notices[0].subject.startswith("[投诉 #7]")


def test_a_digest_to_a_person_follows_the_language_of_the_teams_they_work_in() -> None:
    policies = _with_team_language("en")
    messages = [DigestLine(id=n, key=f"k{n}", case_id=n) for n in (1, 2)]
    texts = {n: (f"s{n}", "b") for n in (1, 2)}
    title, _ = compose_digest(messages, texts, policies.person_messages("li.wei"))
    assert title.startswith("Caseflow: 2 escalations need your attention / Caseflow：")
    # wang.fang supervises both teams, which disagree: the service's language.
    title, _ = compose_digest(messages, texts, policies.person_messages("wang.fang"))
    assert title.startswith("Caseflow：2 条升级")
    # Someone in no team reads the service's language too.
    assert policies.person_messages("nobody").language == ZH


def test_customers_keep_their_own_language_whatever_the_team_chose() -> None:
    policies = _with_team_language("en")
    m = policies.staff_messages("complaints")
    assert m.language == EN
    assert policies.messages.for_customers("How did we do?") != "How did we do?"
    assert policies.messages.for_customers("How did we do?", language=EN) == "How did we do?"
