"""`domain.frozen.evolve` copies a frozen dataclass as `dataclasses.replace` does."""

from __future__ import annotations

from dataclasses import InitVar, dataclass, field, replace
from datetime import timedelta

import pytest

from domain.clocks import ClockState, start_clock
from domain.frozen import evolve
from tests.unit.builders import sh


def test_evolve_gives_what_replace_gives_and_leaves_the_original():
    clock = start_clock(name="first_response", calendar="24x7", target=timedelta(minutes=20),
                        now=sh(2026, 11, 20, 10, 0))
    moved = evolve(clock, state=ClockState.paused, running_since=None)
    assert moved == replace(clock, state=ClockState.paused, running_since=None)
    assert hash(moved) == hash(replace(clock, state=ClockState.paused, running_since=None))
    assert clock.state is ClockState.running and clock.running_since is not None
    with pytest.raises(AttributeError):
        moved.state = ClockState.running  # type: ignore[misc]


def test_evolve_refuses_a_field_the_class_does_not_have():
    clock = start_clock(name="x", calendar="24x7", target=timedelta(1), now=sh(2026, 1, 5, 9))
    with pytest.raises(TypeError, match="stoped_at"):
        evolve(clock, stoped_at=None)


@dataclass(frozen=True)
class _Checked:
    value: int
    doubled: int = field(init=False)

    def __post_init__(self) -> None:
        if self.value < 0:
            raise ValueError("negative")
        object.__setattr__(self, "doubled", self.value * 2)


@dataclass(frozen=True)
class _WithInitVar:
    value: int
    scale: InitVar[int] = 1


def test_a_class_whose_init_does_more_is_copied_by_replace():
    assert evolve(_Checked(2), value=5).doubled == 10  # __post_init__ ran
    with pytest.raises(ValueError, match="negative"):
        evolve(_Checked(2), value=-1)
    assert evolve(_WithInitVar(3), value=4) == _WithInitVar(4)
