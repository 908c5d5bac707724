"""The quarantine file: every record that could not become an event, with the reason and origin.

One JSON line per record: {"reason", "detail", "origin", "raw"}. `raw` is the record's text,
redacted of secrets and clipped, so an analyst can see what arrived without the file becoming a
second copy of the logs (or of the credentials in them).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from .redact import clip

RAW_CLIP_CHARS = 2048


def raw_text(raw: Any) -> str:
    """The raw record as text: bytes decoded leniently, parsed values re-serialized."""
    if isinstance(raw, bytes):
        return raw.decode("utf-8", errors="replace").strip()
    if isinstance(raw, str):
        return raw
    try:
        return orjson.dumps(raw, default=str).decode()
    except TypeError:
        return repr(raw)


class QuarantineFile:
    """Callable quarantine sink for `Normalizer(on_quarantine=...)`; opens the file lazily."""

    def __init__(self, path: str | Path, clip_chars: int = RAW_CLIP_CHARS):
        self.path = Path(path)
        self.clip_chars = clip_chars
        self.counts: Counter[str] = Counter()
        self._handle = None

    def __call__(self, reason: str, detail: str, origin: str, raw: Any) -> None:
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path, "wb")
        self.counts[reason] += 1
        record = {
            "reason": reason,
            "detail": clip(detail, 500),
            "origin": origin,
            "raw": clip(raw_text(raw), self.clip_chars),
        }
        self._handle.write(orjson.dumps(record) + b"\n")

    @property
    def written(self) -> bool:
        return sum(self.counts.values()) > 0

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
