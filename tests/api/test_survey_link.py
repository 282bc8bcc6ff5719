"""The public survey link, on SQLite and PostgreSQL: the page, one answer, refusals, no leaks.

Surveys go to the service log here (no customer channel configured), so the tests read
the link from the outbox, as a customer would read it from their SMS or e-mail.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from api.app import create_app
from domain.survey_token import NONCE_BYTES, sign
from engine.models import Customer, OutboxMessage
from tests.api.helpers import complaint, documented, post_event
from tests.conftest import TEST_SURVEY_SECRET, sweep
from tests.store.followup_helpers import token_in
from tests.support import shanghai

LIN = {"ref": "lin-1", "name": "Lin Xiaoyu", "tier": "B", "email": "lin.xiaoyu@example.com",
       "phone": "13812345678"}
MA = {"ref": "ma-2", "name": "Ma Jianguo", "tier": "B", "email": "ma.jianguo@example.com",
      "phone": "13900001111"}
SUBJECT = "Parcel 7781 arrived crushed"


@pytest.fixture
def public(runtime) -> TestClient:  # type: ignore[no-untyped-def]
    """A client without credentials: the customer's phone."""
    return TestClient(create_app(manage_runtime=False))


def survey_sent(client: TestClient, runtime, clock, customer: dict) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """Open, settle and confirm a complaint; a day later its survey goes. (case id, token)"""
    case = client.post("/cases", json=complaint(subject=SUBJECT, customer=customer)).json()
    for event in ("acknowledge", "resolve", "confirm"):
        assert post_event(client, case["id"], event).status_code == 200
    clock.advance(timedelta(hours=24))
    sweep(runtime)
    with Session(runtime.engine) as session:
        body = session.exec(select(OutboxMessage.body).where(
            OutboxMessage.role == "customer", OutboxMessage.key.like("survey:%:survey"))
            .order_by(col(OutboxMessage.id).desc())).first()
    return case["id"], token_in(body or "")


def _flip(token: str) -> str:
    at = len(token) // 3
    return token[:at] + ("B" if token[at] == "A" else "A") + token[at + 1:]


def test_a_low_score_on_the_page_opens_a_recovery_complaint_and_a_finding(
        client, public, runtime, clock):
    case_id, token = survey_sent(client, runtime, clock, LIN)
    page = public.get(f"/s/{token}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'name="viewport"' in page.text and 'name="csat"' in page.text
    assert "<script" not in page.text and "http" not in page.text.split("<body>")[1]
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in page.headers["content-security-policy"]

    answered = public.post(f"/s/{token}", data={"csat": "2", "nps": "4", "speed": "1",
                                                "comment": "Nobody called me back"})
    assert answered.status_code == 200 and "谢谢您的反馈" in answered.text

    case = client.get(f"/cases/{case_id}").json()
    [follow_id] = [e["details"]["followup"] for e in case["timeline"]
                   if e["type"] == "followup_opened"]
    follow = client.get(f"/follow-ups/{follow_id}").json()
    assert (follow["stage"], follow["source_case"], follow["outcome"]) == (
        "answered", case_id, "answered")
    assert follow["answer"] | {"at": None} == {
        "csat": 2, "nps": 4, "speed": 1, "attitude": None, "resolution": None,
        "comment": "Nobody called me back", "via": "link", "at": None, "by": "customer"}
    recovery = client.get(f"/cases/{follow['recovery_case']}").json()
    assert (recovery["priority"], recovery["team"], recovery["customer"]["ref"]) == (
        "recovery", case["team"], "lin-1")
    assert {c["name"]: c["target"] for c in recovery["clocks"]}["first_response"] == "PT4H"
    assert recovery["timeline"][0]["details"]["recovery_of"] == case_id
    [finding] = client.get("/findings", params={"source": "satisfaction"}).json()["items"]
    assert finding["id"] == follow["finding"]
    assert set(finding["case_ids"]) == {case_id, follow["recovery_case"]}


def test_a_link_answers_once_and_refuses_reuse_tampering_and_expiry(
        client, public, runtime, clock):
    _, token = survey_sent(client, runtime, clock, LIN)
    _, other = survey_sent(client, runtime, clock, MA)
    first = public.post(f"/s/{token}", json={"csat": 5, "nps": 10})
    assert first.status_code == 200
    assert first.json() == {"status": "answered", "message": first.json()["message"]}
    again = public.post(f"/s/{token}", json={"csat": 1, "nps": 0})
    assert again.status_code == 409 and again.json()["detail"]["error"] == "already_answered"
    assert public.get(f"/s/{token}").status_code == 409

    tampered = public.post(f"/s/{_flip(other)}", json={"csat": 5, "nps": 10})
    assert tampered.status_code == 400 and tampered.json()["detail"]["error"] == "invalid_link"
    assert public.get(f"/s/{_flip(other)}").status_code == 400
    assert public.get("/s/not-a-token").status_code == 400
    assert public.get(f"/s/{'x' * 300}").status_code == 422  # longer than any token

    clock.advance(timedelta(days=14))  # the link lives P14D from sending...
    assert public.get(f"/s/{other}").status_code == 200
    # ...to the end of the day its message names: sent on 22 November, 6 December.
    clock.set(shanghai(2026, 12, 7, 0, 0))
    expired = public.post(f"/s/{other}", json={"csat": 5, "nps": 10})
    assert expired.status_code == 410 and expired.json()["detail"]["error"] == "expired_link"
    page = public.get(f"/s/{other}")
    assert page.status_code == 410 and "已过期" in page.text
    assert "has expired" in public.get(f"/s/{other}?lang=en").text


def test_the_link_reveals_nothing_about_this_or_any_other_customer_or_case(
        client, public, runtime, clock):
    lin_case, lin = survey_sent(client, runtime, clock, LIN)
    ma_case, ma = survey_sent(client, runtime, clock, MA)
    private = [LIN["name"], LIN["email"], LIN["phone"], MA["name"], MA["email"], MA["phone"],
               SUBJECT, "complaints", "li.wei", "zhang.min", "chen.jing"]
    answers = [public.get(f"/s/{lin}"), public.get(f"/s/{ma}"),
               public.post(f"/s/{lin}", json={"csat": 3, "nps": 8}),
               public.post(f"/s/{lin}", json={"csat": 3, "nps": 8}),
               public.post(f"/s/{_flip(ma)}", data={"csat": "1", "nps": "1"}),
               public.post(f"/s/{ma}", json={"csat": 9, "nps": 8})]
    for answer in answers:
        text = answer.text + str(answer.headers)
        assert not [p for p in private if p in text], answer.text
        assert f"/cases/{lin_case}" not in text and f"/cases/{ma_case}" not in text
    # A link signed with our secret for no survey reads exactly like a forged one.
    unknown = sign(TEST_SURVEY_SECRET.encode(), secrets.token_bytes(NONCE_BYTES),
                   clock.now() + timedelta(days=1))
    forged = _flip(ma)
    assert public.get(f"/s/{unknown}").text == public.get(f"/s/{forged}").text
    assert public.post(f"/s/{unknown}", json={"csat": 5, "nps": 9}).json() == public.post(
        f"/s/{forged}", json={"csat": 5, "nps": 9}).json()


def test_a_wrong_answer_is_422_naming_the_field_and_leaves_the_link_usable(
        client, public, runtime, clock):
    _, token = survey_sent(client, runtime, clock, LIN)
    bad = public.post(f"/s/{token}", json={"csat": 6, "nps": 9})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "csat"]
    missing = public.post(f"/s/{token}", json={"csat": 4})
    assert missing.json()["detail"][0]["loc"] == ["body", "nps"]
    form = public.post(f"/s/{token}", data={"csat": "4", "nps": "eleven"})
    assert form.status_code == 422 and "请检查：nps" in form.text
    assert public.post(f"/s/{token}", content=b"{not json",
                       headers={"content-type": "application/json"}).status_code == 422
    assert public.post(f"/s/{token}", data={"csat": "4", "nps": "7"}).status_code == 200


def test_answered_and_expired_links_answer_as_the_document_says(client, public, runtime,
                                                                 clock):
    _, token = survey_sent(client, runtime, clock, LIN)
    _, other = survey_sent(client, runtime, clock, MA)
    assert public.post(f"/s/{token}", data={"csat": "5", "nps": "9"}).status_code == 200
    form, body = {"csat": "5", "nps": "9"}, {"csat": 5, "nps": 9}
    answered = [public.get(f"/s/{token}"), public.post(f"/s/{token}", data=form),
                public.post(f"/s/{token}", json=body)]
    clock.advance(timedelta(days=15))  # past the end of the promised day
    expired = [public.get(f"/s/{other}"), public.post(f"/s/{other}", data=form),
               public.post(f"/s/{other}", json=body)]
    document = public.get("/openapi.json").json()
    for answers, status in ((answered, 409), (expired, 410)):
        assert [a.status_code for a in answers] == [status] * 3
        assert [a.headers["content-type"].split(";")[0] for a in answers] == [
            "text/html", "text/html", "application/json"]
        for method, answer in zip(("get", "post", "post"), answers, strict=True):
            documented(document, method, "/s/{token}", answer)


def test_a_survey_closed_without_an_answer_says_so(client, public, runtime, clock):
    case_id, token = survey_sent(client, runtime, clock, LIN)
    clock.advance(timedelta(days=5))  # no answer: the call task opens
    sweep(runtime)
    follow = client.get("/follow-ups", params={"stage": "calling"}).json()["items"]
    assert [f["source_case"] for f in follow] == [case_id]
    for _ in range(3):  # the policy allows three attempts
        post_event(client, follow[0]["id"], "record_call", data={"reached": False})
    assert client.get(f"/follow-ups/{follow[0]['id']}").json()["outcome"] == "unreached"
    closed = public.post(f"/s/{token}", json={"csat": 5, "nps": 9})
    assert closed.status_code == 410 and closed.json()["detail"]["error"] == "survey_closed"


def test_a_customer_s_survey_preferences_come_with_a_complaint(client, runtime, clock):
    bad = client.post("/cases", json=complaint(customer={**LIN, "preferred_channel": "fax"}))
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"][:3] == ["body", "customer", "preferred_channel"]
    case = client.post("/cases", json=complaint(customer={
        **LIN, "survey_opt_out": True, "preferred_channel": "phone"})).json()
    assert (case["customer"]["survey_opt_out"], case["customer"]["preferred_channel"]) == (
        True, "phone")
    for event in ("acknowledge", "resolve", "confirm"):
        post_event(client, case["id"], event)
    clock.advance(timedelta(hours=24))
    sweep(runtime)
    [follow] = client.get("/follow-ups").json()["items"]
    assert (follow["stage"], follow["outcome"], follow["sent_at"]) == (
        "closed", "opted_out", None)


def test_the_page_is_in_simplified_chinese_unless_english_is_asked_for(
        client, public, runtime, clock):
    _, token = survey_sent(client, runtime, clock, LIN)
    default = public.get(f"/s/{token}")
    assert '<html lang="zh-Hans">' in default.text and "您对我们的服务满意吗" in default.text
    assert "滿意" not in default.text and "How did we do" not in default.text  # no Traditional
    for english in (public.get(f"/s/{token}?lang=en"),
                    public.get(f"/s/{token}", headers={"Accept-Language": "en-US,en;q=0.9"})):
        assert '<html lang="en">' in english.text and "How did we do?" in english.text
        assert "您" not in english.text
    chinese_first = public.get(f"/s/{token}", headers={"Accept-Language": "zh-CN,en;q=0.5"})
    assert '<html lang="zh-Hans">' in chinese_first.text
    thanks = public.post(f"/s/{token}?lang=en", json={"csat": 5, "nps": 10})
    assert thanks.json()["message"].startswith("Thank you!")
    again = public.post(f"/s/{token}", json={"csat": 5, "nps": 10})
    assert again.json()["detail"]["message"].startswith("此调查已经填写过")


def test_a_customer_who_reads_english_gets_the_survey_in_english(
        client, public, runtime, clock):
    survey_sent(client, runtime, clock, LIN)
    survey_sent(client, runtime, clock, {**MA, "language": "en"})
    with Session(runtime.engine) as session:
        sent = {row.recipient.split(":")[1]: row for row in session.exec(
            select(OutboxMessage).where(OutboxMessage.key.like("survey:%:survey")))}
        customers = {c.name: str(c.id) for c in session.exec(select(Customer))}
    lin, ma = sent[customers["Lin Xiaoyu"]], sent[customers["Ma Jianguo"]]
    assert lin.subject == "您对我们的服务满意吗？" and lin.body.startswith("Lin Xiaoyu您好")
    assert ma.subject == "How did we do?" and ma.body.startswith("Dear Ma Jianguo,")
    case = client.post("/cases", json=complaint(subject="again", customer={"ref": MA["ref"]}))
    assert case.json()["customer"]["language"] == "en"  # kept when a case leaves it out
    refused = client.post("/cases", json=complaint(customer={**MA, "language": "fr"}))
    assert refused.status_code == 422 and "language" in refused.text
