"""Read and write TokenEvent files: Parquet (columnar, the default) and JSON lines.

Writers take Arrow tables batch by batch so a replay of gigabytes never holds all events; the
`ts` column is written as a real UTC timestamp so pandas, DuckDB and Kibana read it as a time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import InputError
from .events import OUTPUT_SCHEMA, from_output, to_output, us_to_iso

FORMATS = ("parquet", "jsonl")


def format_for(path: str | Path) -> str:
    name = str(path).lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    raise InputError(f"{path}: cannot tell the format from the name; use .parquet or .jsonl")


class EventWriter:
    """Append event tables to one file; `close()` (or a with-block) finishes it."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.format = format_for(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.rows = 0
        self._parquet: pq.ParquetWriter | None = None
        self._jsonl = None
        if self.format == "parquet":
            self._parquet = pq.ParquetWriter(self.path, OUTPUT_SCHEMA, compression="zstd")
        else:
            self._jsonl = open(self.path, "wb")

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self.rows += table.num_rows
        if self._parquet is not None:
            self._parquet.write_table(to_output(table))
            return
        columns = table.to_pydict()
        names = list(columns)
        for values in zip(*columns.values()):
            row = dict(zip(names, values))
            row["ts"] = us_to_iso(row["ts"])
            self._jsonl.write(orjson.dumps(row) + b"\n")  # type: ignore[union-attr]

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None

    def __enter__(self) -> "EventWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_events(path: str | Path, batch_rows: int = 65_536) -> Iterator[pa.Table]:
    """Yield in-memory event tables (int64 µs `ts`) from a file `EventWriter` wrote."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if format_for(path) == "parquet":
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=batch_rows):
            yield from_output(pa.Table.from_batches([batch]))
        return
    rows: list[dict] = []
    with open(path, "rb") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                rows.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                raise InputError(f"{path}:{line_no}: not JSON ({exc})") from exc
            if len(rows) >= batch_rows:
                yield _jsonl_rows_to_table(rows)
                rows = []
    if rows:
        yield _jsonl_rows_to_table(rows)


def _jsonl_rows_to_table(rows: list[dict]) -> pa.Table:
    table = pa.Table.from_pylist(rows)
    if "ts" in table.column_names and pa.types.is_string(table.column("ts").type):
        ts = table.column("ts")
        table = table.set_column(
            table.column_names.index("ts"), "ts", pa.compute.cast(ts, pa.timestamp("us", tz="UTC"))
        )
    for field in OUTPUT_SCHEMA:
        if field.name not in table.column_names:
            table = table.append_column(field.name, pa.nulls(table.num_rows, field.type))
    return from_output(table.select(OUTPUT_SCHEMA.names).cast(OUTPUT_SCHEMA))
