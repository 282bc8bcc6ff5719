"""Flow run names list the cases or messages a batch holds while few, else count them;
their parameters give the ids as ranges."""

import pytest

from engine.flow_runs import id_ranges, ids_in, listed
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


def test_a_runs_ids_go_as_ranges_and_come_back_as_they_were():
    assert id_ranges([9, 3, 4, 5, 12, 6, 13, 7]) == "3-7,9,12-13"
    assert id_ranges(range(1, 10_001)) == "1-10000"
    assert id_ranges([42]) == "42" and id_ranges([]) == ""
    for ids in ([], [42], [1, 2, 4, 8, 9, 10, 11], list(range(100, 20_100, 3))):
        assert ids_in(id_ranges(ids)) == ids


@pytest.mark.parametrize(
    "text", ["3-", "-3", "a", "3,,4", "3-4-5", "1.5", " 3", "3-x", "5-3", "4-4"])
def test_anything_but_ranges_is_refused(text):
    with pytest.raises(ValueError, match="not ids as ranges"):
        ids_in(text)
