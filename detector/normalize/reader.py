"""Turn inputs (files, directories, globs, .gz, stdin) into raw JSON documents with their origin.

A file is either JSON lines (one document per line: K8s audit logs, most exports) or one JSON
document (a CloudTrail S3 object `{"Records": [...]}`, a pretty-printed array, a Firehose object
of concatenated JSON values). The first line decides: if it parses on its own, the file is JSON
lines. Whole-document files are read into memory; that is fine for their real sizes (CloudTrail
objects are a few MB). Compression is recognised by content (gzip magic), not by name.
"""

from __future__ import annotations

import glob
import gzip
import io
import json
import os
import re
import sys
from itertools import islice
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, NamedTuple

import orjson

from ..errors import InputError

GZIP_MAGIC = b"\x1f\x8b"
# Names we never try to read when walking a directory (our own outputs, editor litter).
_SKIP_SUFFIXES = (".parquet", ".quarantine.jsonl", ".md", ".swp", ".pyc")


class RawDocument(NamedTuple):
    """One raw JSON document (bytes) and where it came from ("path:line").

    A NamedTuple rather than a frozen dataclass: one is made per line, and a tuple is built
    about ten times faster."""

    data: bytes
    origin: str


def expand_inputs(inputs: list[str]) -> list[str]:
    """Files, directories (walked, sorted), globs and '-' (stdin) → concrete paths, in order.

    Raises InputError for a path that does not exist or a glob that matches nothing, because a
    typo must not look like an empty but successful run.
    """
    paths: list[str] = []
    for item in inputs:
        if item == "-":
            paths.append("-")
        elif os.path.isdir(item):
            for root, dirs, files in os.walk(item):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                paths.extend(
                    os.path.join(root, f)
                    for f in sorted(files)
                    if not f.startswith(".") and not f.endswith(_SKIP_SUFFIXES)
                )
        elif os.path.exists(item):
            paths.append(item)
        elif glob.has_magic(item):
            matched = sorted(glob.glob(item, recursive=True))
            if not matched:
                raise InputError(f"{item}: the pattern matches no file")
            paths.extend(p for p in matched if os.path.isfile(p))
        else:
            raise InputError(f"{item}: no such file or directory")
    return paths


def total_bytes(paths: list[str]) -> int | None:
    """Sum of on-disk sizes, for a progress bar (None when stdin is among the inputs)."""
    if "-" in paths:
        return None
    return sum(os.path.getsize(p) for p in paths)


def _open(path: str) -> BinaryIO:
    if path == "-":
        stream: BinaryIO = sys.stdin.buffer
        head = stream.peek(2)[:2] if hasattr(stream, "peek") else b""
        return gzip.GzipFile(fileobj=stream) if head == GZIP_MAGIC else stream
    try:
        raw = open(path, "rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot open ({exc.strerror})") from exc
    if raw.read(2) == GZIP_MAGIC:
        raw.seek(0)
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    raw.seek(0)
    return raw


class _CountingReader(io.RawIOBase):
    """Counts the compressed bytes consumed, so progress matches on-disk sizes."""

    def __init__(self, inner: BinaryIO, on_bytes: Callable[[int], None]):
        self._inner, self._on_bytes = inner, on_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        buffer[: len(data)] = data
        self._on_bytes(len(data))
        return len(data)


def read_documents(
    path: str, on_bytes: Callable[[int], None] | None = None
) -> Iterator[RawDocument]:
    """Yield the raw documents of one input; see the module doc for how a file's layout is told."""
    for block in read_blocks(path, on_bytes):
        for data, origin in block:
            yield RawDocument(data, origin)


def read_blocks(
    path: str, on_bytes: Callable[[int], None] | None = None, size: int = 4096
) -> Iterator[list[tuple[bytes, str]]]:
    """The documents of `read_documents` as lists of up to `size` (data, origin) pairs, for
    callers that handle many at once: one generator step per block and no RawDocument per line
    (together a third of the cost of reading a JSON-lines file)."""
    name = "<stdin>" if path == "-" else path
    stream = _open(path)
    try:
        if on_bytes is not None and path != "-":
            # count on the underlying file so progress is in on-disk bytes
            base = stream.fileobj if isinstance(stream, gzip.GzipFile) else stream  # type: ignore[union-attr]
            counted = io.BufferedReader(_CountingReader(base, on_bytes), buffer_size=1 << 20)
            stream = gzip.GzipFile(fileobj=counted) if isinstance(stream, gzip.GzipFile) else counted
        reader = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(stream, 1 << 20)  # type: ignore[arg-type]
        first = reader.readline()
        while first and not first.strip():
            first = reader.readline()
        if not first:
            return
        if not reader.peek(1):
            # the whole input is one line (a CloudTrail object as S3 delivers it): one document,
            # parsed once by the normalizer rather than here as well
            yield list(_whole_document(first, name))
        elif _parses_alone(first):
            yield from _json_lines(first, reader, name, size)
        else:
            yield list(_whole_document(first + reader.read(), name))
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(f"{name}: read failed ({exc})") from exc
    finally:
        if path != "-":
            stream.close()


def _parses_alone(line: bytes) -> bool:
    text = line.strip()
    if text[:1] not in (b"{", b"["):
        # a base64 line (an EKS CloudWatch Logs subscription record) is a JSON-lines record too
        return len(text) > 16 and b" " not in text
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


def _json_lines(first: bytes, reader: io.BufferedReader, name: str, size: int) -> Iterator[list[tuple[bytes, str]]]:
    # Line numbers count from the first non-blank line read (`first`); blank lines are not documents.
    yield [(first, f"{name}:1")]
    line_no = 2
    while True:
        lines: list[bytes] = []
        failed = None
        try:
            lines.extend(islice(reader, size))
        except (OSError, EOFError) as exc:
            # a read error (a truncated gzip): the lines before it are still handed over first,
            # as when lines were handed over one by one (extend keeps what it had appended)
            failed = exc
        # isspace, not strip: the same test for a blank line, without copying every line
        block = [(line, f"{name}:{n}") for n, line in enumerate(lines, line_no) if not line.isspace()]
        line_no += len(lines)
        if block:
            yield block
        if failed is not None:
            raise failed
        if len(lines) < size:
            return


# Where one JSON value ends and the next begins in a Firehose-style object: `}{`, `}\n{`,
# `}\r\n{` or `} {`. In a single valid document a `}` is never followed by `{` (a comma must come
# between), except inside strings. One regex pass: four `in` scans of a CloudTrail object cost
# four times as much.
_VALUE_SEAM = re.compile(rb"\}(?:\r?\n| )?\{")


def _whole_document(data: bytes, name: str) -> Iterator[RawDocument]:
    if _VALUE_SEAM.search(data) is None:
        # cannot be concatenated values: handed on unparsed (the normalizer parses it once)
        yield RawDocument(data, f"{name}:1")
        return
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        pieces = _concatenated_values(data)
        if pieces is not None:  # Firehose-style `{...}{...}` objects
            for index, piece in enumerate(pieces):
                yield RawDocument(piece, f"{name}:1#{index}")
            return
    # valid, or invalid as a whole: either way it is one document (the normalizer quarantines it)
    yield RawDocument(data, f"{name}:1")


def _concatenated_values(data: bytes) -> list[bytes] | None:
    """Split `{..}{..}` / `{..}\\n  {..}` into values; None if it is not such a sequence."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    decoder = json.JSONDecoder()
    pieces, index, length = [], 0, len(text)
    while index < length:
        while index < length and text[index].isspace():
            index += 1
        if index >= length:
            break
        try:
            _, end = decoder.raw_decode(text, index)
        except json.JSONDecodeError:
            return None
        pieces.append(text[index:end].encode("utf-8"))
        index = end
    return pieces if len(pieces) > 1 else None


def describe(path: str) -> str:
    return "<stdin>" if path == "-" else str(Path(path))
