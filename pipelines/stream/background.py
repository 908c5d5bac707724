"""Snapshots built in a forked child, the way Redis's BGSAVE writes its dump.

Encoding a partition's state (every principal, token, open window and the inventory) takes
the detect loop about a second on the bench's world; alerts of events arriving meanwhile would
wait that long. `os.fork()` gives a child an exact copy-on-write image of the detector at the
moment of the fork, with no copy made by the parent and no lock on the detector: the child
encodes the records on another core while the parent goes on polling and detecting. The
parent sends the records once the child is done, then commits the offsets that were current
at the fork, so a state record still pairs with exactly the events it has seen.

The child touches nothing it shares with the parent's threads (no Kafka client, no logging):
it runs a pure function, writes the records to an unlinked temporary file and leaves with
`os._exit`, skipping every finalizer and exit handler. If the parent dies first, the child
finishes into a file nobody can reach, and the file goes with it.
"""

from __future__ import annotations

import gc
import os
import signal
import struct
import tempfile
import traceback
from typing import Callable, NamedTuple

import orjson


class Record(NamedTuple):
    topic: str
    key: bytes | None
    value: bytes
    partition: int | None = None
    headers: list[tuple[str, bytes]] | None = None


_LENGTH = struct.Struct("<I")
_OK, _FAILED = b"K", b"E"


def forking_available() -> bool:
    return hasattr(os, "fork")


def write_records(fd: int, records: list[Record]) -> None:
    """Records as length-prefixed parts: a JSON header (topic, partition, headers, sizes), then
    the raw key and value bytes."""
    parts = [_OK]
    for r in records:
        meta = orjson.dumps([r.topic, r.partition, [[h, v.decode("latin-1")] for h, v in r.headers or ()],
                             -1 if r.key is None else len(r.key), len(r.value)])
        parts += [_LENGTH.pack(len(meta)), meta, r.key or b"", r.value]
    _write_all(fd, b"".join(parts))


def read_records(data: bytes) -> list[Record]:
    if data[:1] == _FAILED:
        raise RuntimeError(data[1:].decode(errors="replace"))
    if data[:1] != _OK:
        raise RuntimeError("the snapshot child wrote nothing (killed?)")
    out, at, view = [], 1, memoryview(data)
    while at < len(data):
        (size,) = _LENGTH.unpack_from(data, at)
        at += _LENGTH.size
        topic, partition, headers, key_size, value_size = orjson.loads(view[at:at + size])
        at += size
        key = None
        if key_size >= 0:
            key = bytes(view[at:at + key_size])
            at += key_size
        value = bytes(view[at:at + value_size])
        at += value_size
        out.append(Record(topic, key, value, partition, [(h, v.encode("latin-1")) for h, v in headers] or None))
    return out


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class ForkedTask:
    """`build()` run in a forked child; `poll()` says whether it is done, `result()` returns
    its records (or raises what the child raised), `cancel()` kills it."""

    def __init__(self, build: Callable[[], list[Record]]):
        self._fd, path = tempfile.mkstemp(prefix="tokenhawk-snapshot-")
        os.unlink(path)  # the parent and the child hold it open; nobody else can reach it
        self._status: int | None = None
        self.pid = os.fork()
        if self.pid == 0:  # the child
            code = 0
            try:
                gc.disable()  # the image is thrown away: nothing to collect, no finalizer to run
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                write_records(self._fd, build())
            except BaseException:  # noqa: BLE001 - reported to the parent, which decides
                code = 1
                try:
                    os.lseek(self._fd, 0, os.SEEK_SET)
                    os.ftruncate(self._fd, 0)
                    _write_all(self._fd, _FAILED + traceback.format_exc(limit=8).encode())
                except BaseException:  # noqa: BLE001
                    pass
            finally:
                os._exit(code)

    def poll(self) -> bool:
        """True once the child has exited."""
        if self._status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == 0:
                return False
            self._status = status
        return True

    def result(self) -> list[Record]:
        """The child's records; waits for it if it is still running."""
        if self._status is None:
            _, self._status = os.waitpid(self.pid, 0)
        try:
            size = os.fstat(self._fd).st_size
            data = os.pread(self._fd, size, 0) if size else b""
            while len(data) < size:
                data += os.pread(self._fd, size - len(data), len(data))
        finally:
            self._close()
        if os.WIFSIGNALED(self._status):
            raise RuntimeError(f"the snapshot child was killed by signal {os.WTERMSIG(self._status)}")
        return read_records(data)

    def cancel(self) -> None:
        if self._status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _, self._status = os.waitpid(self.pid, 0)
        self._close()

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
