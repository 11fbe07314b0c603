"""A drain sets its start-up heap aside from the collector, once per process
(docs/performance.md, "The collector, and indexes nothing read")."""

from __future__ import annotations

import gc
import weakref

import pytest

from payments.services import drainers


@pytest.fixture
def thawed(monkeypatch):
    """This test process as if no drain had run in it; thawed again afterwards."""
    gc.unfreeze()
    monkeypatch.setattr(drainers, "_frozen_in", None)
    yield
    gc.unfreeze()


def test_the_start_up_heap_is_frozen_once_per_process(thawed):
    assert gc.get_freeze_count() == 0
    assert drainers.freeze_startup_heap() is True
    frozen = gc.get_freeze_count()
    # Django, the app and the test runner: tens of thousands of objects that live as
    # long as the process, which the collector's full passes no longer walk.
    assert frozen > 10_000

    made_since = [[n] for n in range(1000)]  # what batches make stays collectable
    assert drainers.freeze_startup_heap() is False
    # Nothing more frozen (fewer, perhaps: a frozen object is still freed when unused).
    assert gc.get_freeze_count() <= frozen
    collectable = {id(o) for o in gc.get_objects()}  # the collector's generations only
    assert all(id(o) in collectable for o in made_since)


def test_garbage_of_start_up_is_collected_not_frozen(thawed):
    class Node:
        pass

    cycle = Node()
    cycle.self = cycle  # unreachable once dropped, only the collector frees it
    alive = weakref.ref(cycle)
    del cycle
    drainers.freeze_startup_heap()
    assert alive() is None  # freed, not kept for ever in the frozen heap
