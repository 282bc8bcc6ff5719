"""Flow run names list the cases or messages a batch holds while few, else count them."""

from engine.flow_runs import listed
from flows.escalation import batch_tags, rung_label


def test_ids_are_listed_while_few_then_counted_never_a_range():
    assert listed("case", [42]) == "case-42"
    assert listed("case", [40, 41, 45]) == "cases-40,41,45"
    assert listed("message", list(range(2875, 3508))) == "633-messages"


def test_the_rungs_fired_are_in_the_name_and_the_tags():
    assert rung_label([]) == ""
    assert rung_label([2]) == "-rung-2"
    assert rung_label([1, 3]) == "-rungs-1,3"
    assert batch_tags("complaint", [1, 3]) == ["complaint", "timers", "rung-1", "rung-3"]
