"""Each process's event data models: a wrong JSON type is refused naming `data.<field>`,
before any hook sees it; leaving fields out is the hooks' to judge."""

from __future__ import annotations

import pytest

from api.app import create_app
from domain.catalogue import definitions
from domain.process import EventData, InvalidEvent, TransitionTable, check_data

MODELS = [(name, event, model) for name, process in sorted(definitions().items())
          for event, model in sorted(process.TABLE.data.items())]


def test_the_processes_declare_data_for_the_events_that_take_it():
    declared = {(name, event) for name, event, _ in MODELS}
    assert {("service_request", "transfer"), ("service_request", "accept"),
            ("crisis", "draft_notice"), ("complaint", "reassign"),
            ("complaint", "change_priority"), ("followup", "record_call"),
            ("pdca", "update_plan")} <= declared
    assert all(issubclass(model, EventData) for _, _, model in MODELS)


@pytest.mark.parametrize(("process", "event", "model"), MODELS,
                         ids=[f"{p}.{e}" for p, e, _ in MODELS])
def test_a_wrong_json_type_is_refused_naming_the_field(process, event, model):
    check_data(model, {})  # every field may be left out
    for name, info in model.model_fields.items():
        wrong = ["a list"] if "dict" in str(info.annotation) else {"an": "object"}
        with pytest.raises(InvalidEvent) as refused:
            check_data(model, {name: wrong})
        assert refused.value.field == f"data.{name}", (process, event)
        if "str" in str(info.annotation):
            with pytest.raises(InvalidEvent):
                check_data(model, {name: 5})  # strict: no number for a text


def test_a_table_refuses_a_model_for_an_event_it_does_not_have():
    with pytest.raises(ValueError, match="unknown events"):
        TransitionTable(stages=("a",), final_stages=frozenset(), transitions=(),
                        data={"nothing": EventData})


def test_the_api_docs_show_each_event_data_model():
    schema = create_app(manage_runtime=False).openapi()["components"]["schemas"]
    shown = {s["title"] for s in schema["EventCreate"]["properties"]["data"]["anyOf"]}
    assert shown == {f"{p}.{e}" for p, e, _ in MODELS}
