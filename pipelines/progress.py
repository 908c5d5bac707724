"""Progress bars for long work: shown on a terminal, silent in pipes, CI and with --quiet."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

# Everything human-facing goes to stderr so stdout stays clean for JSON output and pipes.
console = Console(stderr=True)


class Bar:
    """A progress bar that may be a no-op; `advance(n)` and `total` work either way."""

    def __init__(self, progress: Progress | None, task: int | None):
        self._progress, self._task = progress, task

    def advance(self, amount: float = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, amount)  # type: ignore[arg-type]

    def set_total(self, total: float | None) -> None:
        if self._progress is not None:
            self._progress.update(self._task, total=total)  # type: ignore[arg-type]

    def describe(self, text: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=text)  # type: ignore[arg-type]


def enabled(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


@contextmanager
def bar(description: str, total: float | None, *, quiet: bool = False, unit: str = "items") -> Iterator[Bar]:
    """A context-managed progress bar; `unit="bytes"` shows sizes instead of counts."""
    if not enabled(quiet):
        yield Bar(None, None)
        return
    counter = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        counter,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    with progress:
        yield Bar(progress, progress.add_task(description, total=total))
