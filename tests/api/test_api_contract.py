"""What the API answers is what its OpenAPI document says: statuses and media types.

One kind of mistake, one status: a body that cannot be decoded as JSON, for any
reason, is 422 with the error shape of any invalid JSON.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.helpers import documented, operations, protected_body_operations
from tests.support import bearer, issue_key

JSON = {"content-type": "application/json"}
UNREADABLE = [
    ("invalid utf-8", b'{"subject": "\xff\xfe"}', ["body", 13], "not valid UTF-8"),
    ("deep nesting", b"[" * 10_000 + b"]" * 10_000, ["body"], "nested too deeply"),
    ("bad syntax", b'{"subject": ', ["body", 12], "JSON decode error"),
]


@pytest.fixture
def callers(runtime) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    """Credentials of the roles that between them may do every operation."""
    return [bearer(issue_key(runtime, role))
            for role in ("supervisor", "admin", "scheduler", "manager")]


@pytest.mark.parametrize(("label", "body", "loc", "message"), UNREADABLE,
                         ids=[label for label, *_ in UNREADABLE])
def test_a_body_that_cannot_be_decoded_is_422_on_every_operation(runtime, callers, label,
                                                                  body, loc, message):
    with TestClient(create_app(manage_runtime=False)) as client:
        urls = protected_body_operations(client)
        for url in urls:
            answer = next(a for a in (client.post(url, content=body, headers={**JSON, **h})
                                      for h in callers) if a.status_code != 403)
            assert answer.status_code == 422, (url, answer.text)
            assert answer.json() == {"detail": [
                {"loc": loc, "msg": message, "type": "json_invalid"}]}, url
        survey = client.post("/s/not-a-link", content=body, headers=JSON)
        assert survey.status_code == 422 and survey.json()["detail"][0]["loc"] == ["body"]


def test_the_document_lists_what_every_operation_can_answer(sqlite_client):
    document = sqlite_client.get("/openapi.json").json()
    for method, path, _, operation in operations(document):
        answers = operation["responses"].keys()
        where = (method, path)
        assert "400" not in answers or path == "/s/{token}", where
        if "requestBody" in operation:
            assert {"413", "422"} <= answers, where
        if operation.get("security"):
            assert {"401", "403", "429"} <= answers, where
            assert "Retry-After" in operation["responses"]["429"]["headers"], where


def test_every_answer_of_the_survey_link_comes_as_documented(sqlite_client):
    """The page and its refusals are HTML; an answer is JSON for a JSON body, else HTML."""
    public = TestClient(sqlite_client.app)
    document = public.get("/openapi.json").json()
    get = [public.get("/s/not-a-link"), public.get("/s/" + "x" * 300)]
    post = [public.post("/s/not-a-link", json={"csat": 5, "nps": 10}),
            public.post("/s/not-a-link", data={"csat": "5", "nps": "10"}),
            public.post("/s/not-a-link", json={"csat": 9}),
            public.post("/s/not-a-link", data={"csat": "9"}),
            public.post("/s/not-a-link", content=b'{"csat": 5, "nps": 10}'),  # no type
            public.post("/s/not-a-link", content=b"{", headers=JSON),
            public.post("/s/not-a-link", content=b"x" * 40_000, headers=JSON)]
    assert [a.status_code for a in get] == [400, 422]
    assert [a.status_code for a in post] == [400, 400, 422, 422, 422, 422, 413]
    assert [a.headers["content-type"].split(";")[0] for a in post[:5]] == [
        "application/json", "text/html", "application/json", "text/html", "text/html"]
    assert get[0].headers["content-type"].startswith("text/html")
    for answer in get:
        documented(document, "get", "/s/{token}", answer)
    for answer in post:
        documented(document, "post", "/s/{token}", answer)
