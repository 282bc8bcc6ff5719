"""Roles, scope and masking as pure rules, without a database."""

import logging

import pytest

from core.redaction import RedactingFilter, redact
from domain.access import AccessRole, ActorKind, Identity, NotPermitted, role_problem
from domain.catalogue import definitions
from domain.complaint import rules as complaint
from domain.policy import Disclosure, PrivacyPolicy
from domain.privacy import disclose, mask_email, mask_phone

PROCESSES = list(definitions().values())


def person(role: str, *teams: str, name: str = "li.wei") -> Identity:
    return Identity(name=name, kind=ActorKind.person, role=AccessRole(role),
                    teams=frozenset(teams))


def test_agents_and_supervisors_see_their_teams_and_what_is_assigned_to_them():
    agent = person("agent", "complaints")
    assert agent.sees(team="complaints", assignee=None)
    assert not agent.sees(team="billing", assignee="zhou.xin")
    assert agent.sees(team="billing", assignee="li.wei")
    assert person("supervisor", "billing").sees(team="billing", assignee=None)


def test_managers_and_directors_see_every_team_and_admins_see_no_case():
    for role in ("manager", "director"):
        assert person(role).sees(team="anything", assignee=None)
    for role in ("admin", "scheduler"):
        assert not person(role).sees(team="complaints", assignee="li.wei")


@pytest.mark.parametrize(("role", "teams", "problem"), [
    ("agent", [], "role agent needs at least one team"),
    ("supervisor", [], "role supervisor needs at least one team"),
    ("manager", ["complaints"], "teams apply to agents and supervisors only, not to role "
                                "manager"),
    ("admin", ["x"], "teams apply to agents and supervisors only, not to role admin"),
    ("agent", ["complaints"], None),
    ("director", [], None),
])
def test_a_role_and_its_teams_must_fit(role, teams, problem):
    assert role_problem(AccessRole(role), frozenset(teams)) == problem


def test_the_complaint_table_says_who_may_send_each_event():
    table = complaint.TABLE
    assert table.roles_for("reassign") == {AccessRole.supervisor}
    assert table.roles_for("acknowledge") == {AccessRole.agent, AccessRole.supervisor}
    # The ladder reports an agent's lapse to those above: only they may end it.
    assert table.roles_for("acknowledge_escalation") == {
        AccessRole.supervisor, AccessRole.manager, AccessRole.director}
    assert table.roles_for("auto_close") == frozenset()  # the system's alone
    with pytest.raises(NotPermitted, match="role agent may not send 'change_priority'"):
        table.authorize("change_priority", AccessRole.agent)
    table.authorize("no_such_event", AccessRole.agent)  # unknown events fail later, as 422
    assert table.allowed_events("assigned", role=AccessRole.director) == [
        "acknowledge_escalation", "add_note"]


@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: p.NAME)
def test_no_process_lets_an_agent_end_a_ladder(process):
    assert process.TABLE.roles_for("acknowledge_escalation") == {
        AccessRole.supervisor, AccessRole.manager, AccessRole.director}


@pytest.mark.parametrize(("phone", "masked"), [
    ("13812345678", "138****5678"), ("+86 138 1234 5678", "861******5678"),
    ("021-6234-5678", "021****5678"), ("12345", "*****"), ("", "***")])
def test_phone_numbers_keep_only_their_ends(phone, masked):
    assert mask_phone(phone) == masked


def test_email_addresses_keep_the_first_letter_and_the_domain():
    assert mask_email("lin.fang@example.com") == "l***@example.com"
    assert mask_email("not-an-address") == "***"


def test_disclosure_follows_the_policy_per_role():
    policy = PrivacyPolicy()
    assert policy.for_reader(AccessRole.agent) is Disclosure.full
    assert policy.for_reader(AccessRole.manager) is Disclosure.masked  # not named: masked
    assert disclose("13812345678", "phone", Disclosure.full) == "13812345678"
    assert disclose("13812345678", "phone", Disclosure.omitted) is None
    assert disclose(None, "email", Disclosure.full) is None


@pytest.mark.parametrize(("text", "secret"), [
    ("customer 13812345678 called", "13812345678"),
    ("reach +86-138-1234-5678 today", "138-1234-5678"),
    ("mail lin.fang@example.com now", "lin.fang@example.com"),
    ("key cf_Abcdefgh12345678_xyz leaked", "cf_Abcdefgh12345678_xyz"),
    ("Authorization: Bearer abc.def.ghi", "abc.def.ghi"),
    ("token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl", "eyJzdWIiOiJ4In0"),
    ("postgresql+psycopg://caseflow:s3cret@db:5432/caseflow", "s3cret"),
])
def test_the_log_never_carries_contact_details_or_secrets(text, secret):
    assert secret not in redact(text)


def test_ordinary_log_lines_pass_unchanged():
    for text in ("case 42 escalated at 2026-11-20T10:15:00+08:00 (level 1)",
                 "127.0.0.1:54321 - \"POST /cases HTTP/1.1\" 201", "swept 500 timers in 1.25 s"):
        assert redact(text) == text


def test_the_filter_rewrites_arguments_and_tracebacks():
    record = logging.LogRecord("caseflow", logging.ERROR, __file__, 1, "calling %s failed",
                               ("13812345678",), None)
    try:
        raise ValueError("bad address lin.fang@example.com")
    except ValueError:
        import sys
        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "calling 138****5678 failed"
    assert "lin.fang@" not in (record.exc_text or "") and "l***@example.com" in record.exc_text


def test_a_badly_formatted_log_call_is_logged_not_raised():
    record = logging.LogRecord("lib", logging.INFO, __file__, 1, "value %s %s",
                               ("13812345678",), None)
    assert RedactingFilter().filter(record)
    assert "13812345678" not in record.getMessage() and "value" in record.getMessage()
