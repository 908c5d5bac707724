"""The detector's repeat path (`Detector._repeat`) is a shortcut, not a second behaviour.

Two thirds of a typical stream repeat, within the hour, an event the full path already found
unremarkable; those take a short path that only re-checks what time can change. Replaying the
labelled demo world (attacks, benign changes, pod churn, four clouds) with and without it must
give the same alerts, the same counters, the same learned state (snapshot: baselines, tokens,
pods, forests) and the same inventory the observer hook keeps.
"""

from __future__ import annotations

import pytest

from detector.detect import snapshot
from detector.detect.engine import Detector
from detector.inventory.observer import Inventory
from hunt_support import demo_world
from pipelines.replay import replay


def _run(table, *, repeats: bool, monkeypatch) -> tuple[Detector, Inventory, dict]:
    with monkeypatch.context() as patch:
        if not repeats:
            patch.setattr(Detector, "_repeat", lambda self, *args: False)
        inventory = Inventory()
        detector = Detector(observers=[inventory])
        result = replay(table, detector, batch_rows=7_000, quiet=True)
    return detector, inventory, result.alerts


@pytest.fixture(scope="module")
def both(request):
    monkeypatch = pytest.MonkeyPatch()
    request.addfinalizer(monkeypatch.undo)
    table = demo_world().table
    fast = _run(table, repeats=True, monkeypatch=monkeypatch)
    full = _run(table, repeats=False, monkeypatch=monkeypatch)
    return table, fast, full


def test_the_repeat_path_is_taken(both, monkeypatch):
    table, (fast, _, _), _ = both
    taken = []
    original = Detector._repeat

    def counting(self, *args):
        hit = original(self, *args)
        taken.append(hit)
        return hit

    monkeypatch.setattr(Detector, "_repeat", counting)
    replay(table.slice(0, 60_000), Detector(), quiet=True)
    # most events of this world repeat their hour; a shortcut that never fires proves nothing
    assert sum(taken) > 0.4 * 60_000


def test_same_alerts(both):
    _, (_, _, fast_alerts), (_, _, full_alerts) = both
    assert fast_alerts, "the demo world has attacks: some alerts are expected"
    assert fast_alerts == full_alerts


def test_same_counters_and_learned_state(both):
    _, (fast, _, _), (full, _, _) = both
    assert fast.stats == full.stats
    assert snapshot.snapshot(fast) == snapshot.snapshot(full)


def test_same_inventory(both):
    _, (fast, fast_inventory, _), (full, full_inventory, _) = both
    assert fast_inventory.events == full_inventory.events
    assert fast_inventory.to_dict(fast) == full_inventory.to_dict(full)
