"""Golden-file harness: a real sample file → the events and quarantine records we expect.

Expected files live in tests/golden/<family>/<sample>.json. Each was written by running the
normalizer and then checked by hand against the raw record, field by field; regenerate with
TOKENHAWK_UPDATE_GOLDEN=1 only when a change to the output is intended, and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from detector.events import us_to_iso
from detector.normalize import Normalizer, StageDeduper
from detector.normalize.reader import read_documents

TESTS = Path(__file__).parent
FIXTURES = TESTS / "fixtures"
PUBLIC = FIXTURES / "public"
GOLDEN = TESTS / "golden"
UPDATE = os.environ.get("TOKENHAWK_UPDATE_GOLDEN") == "1"


def normalize_path(path: Path, root: Path = FIXTURES) -> dict[str, Any]:
    """Normalize one file as `tokenhawk normalize` would (with stage dedup), origins relative."""
    quarantined: list[dict[str, str]] = []
    normalizer = Normalizer(
        on_quarantine=lambda reason, detail, origin, raw: quarantined.append(
            {"reason": reason, "detail": detail, "origin": origin}
        )
    )
    rel = str(path.relative_to(root))
    for doc in read_documents(str(path)):
        normalizer.feed(doc.data, rel + doc.origin[len(str(path)) :])
    dedup = StageDeduper()
    events = dedup.push(normalizer.take()) + dedup.flush()
    for event in events:
        event["ts"] = us_to_iso(event["ts"])
    return {
        "events": events,
        "quarantined": quarantined,
        "skipped": dict(sorted(normalizer.ctx.skipped.items())),
        "stage_duplicates": dedup.duplicates,
    }


def check_golden(path: Path, family: str) -> dict[str, Any]:
    """Compare a fixture's output with its golden file (or write it when updating)."""
    actual = normalize_path(path)
    golden = GOLDEN / family / (path.name + ".json")
    if UPDATE or not golden.exists():
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(json.dumps(actual, indent=1, sort_keys=False, ensure_ascii=False) + "\n")
        if not UPDATE:
            raise AssertionError(f"{golden} did not exist; wrote it — review it against the raw file, then rerun")
    expected = json.loads(golden.read_text())
    assert actual == expected, f"{path.name}: output differs from {golden}"
    return actual
