"""Graceful stop on SIGTERM/SIGINT: the signal only sets a flag; the processor loop sees it
between batches, finishes the batch, snapshots, commits and flushes, then exits."""

from __future__ import annotations

import logging
import signal
import threading

log = logging.getLogger(__name__)


class Shutdown:
    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason: str | None = None
        self._previous: dict[int, object] = {}

    def install(self, signals=(signal.SIGTERM, signal.SIGINT)) -> "Shutdown":
        if threading.current_thread() is threading.main_thread():
            for sig in signals:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum, _frame) -> None:
        if self._event.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        self.request(signal.Signals(signum).name)

    def request(self, reason: str = "requested") -> None:
        if not self._event.is_set():
            self.reason = reason
            log.info("stopping after the current batch (%s)", reason, extra={"fields": {"reason": reason}})
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        return self._event.wait(seconds)
