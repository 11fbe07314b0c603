"""What `make bench` prints from its measurements (bench/webhook_load.py), no server needed."""

from __future__ import annotations

from bench.webhook_load import Phase, Stats, slice_ratios


def phase(target: str, rates: list[float], *, replay: bool = False) -> Phase:
    return Phase(target, replay, Stats(), 0, 0, slice_rates=rates)


def test_each_slice_is_set_beside_the_floors_slice_of_the_same_turn():
    phases = [phase("floor", [1000, 800, 900, 1000]), phase("project", [800, 720, 900, 850]),
              phase("floor", [500, 400], replay=True), phase("project", [450, 400], replay=True)]

    assert slice_ratios(phases) == ("events/s slice by slice, project/floor: "
                                    "in order 0.80x 0.90x 1.00x 0.85x; replay 0.90x 1.00x")


def test_without_the_floor_there_is_nothing_to_set_beside():
    assert slice_ratios([phase("project", [800, 700])]) == ""
