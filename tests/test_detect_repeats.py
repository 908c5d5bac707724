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


def test_a_value_forgotten_since_is_new_again_on_the_repeat_path():
    """A full baseline set forgets its least recently seen value. Token A's namespace, learned an
    hour ago and compared quietly at 01:50, is pushed out by token B's new namespace one second
    later: A's repeat at 01:50:02 must find it new again, as the full path does."""
    from detector.config import DetectorConfig
    from detector.detect.state import CAP_NAMESPACES
    from detector.events import FIELDS, to_table

    minute, second = 60_000_000, 1_000_000
    t0 = 1_704_067_200_000_000 + 50 * minute  # 00:50 UTC

    def event(ts, token, namespace, i):
        e = dict.fromkeys(FIELDS)
        e.update(ts=ts, event_id=f"e{i}", source="k8s", tenant="c1", principal="system:serviceaccount:app:sa",
                 principal_type="serviceaccount", token_id=token, token_kind="bound", action="list:configmaps",
                 namespace=namespace, outcome="success", read_only=True)
        return e

    fill = [event(t0, "A", "ns-x", 0)] + [event(t0 + 6 * minute + i * 100_000, "B", f"ns-{i}", i + 1)
                                          for i in range(CAP_NAMESPACES - 1)]
    batches = [fill, [event(t0 + 60 * minute, "A", "ns-x", 1000)],
               [event(t0 + 60 * minute + second, "B", "ns-new", 1001)],
               [event(t0 + 60 * minute + 2 * second, "A", "ns-x", 1002)]]

    def run() -> Detector:
        detector = Detector(DetectorConfig(learning_period="1h"))
        for batch in batches:
            detector.process(to_table(batch))
        return detector

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Detector, "_repeat", lambda self, *args: False)
        full = run()
    fast = run()
    assert full.stats.signals["new-namespace"] == 2  # B's new one, and A's forgotten one
    assert fast.stats == full.stats and sorted(fast.incidents) == sorted(full.incidents) == ["k8s|c1|A", "k8s|c1|B"]
