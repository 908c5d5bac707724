"""Helpers of the hunt tests: the demo world (built once per test process), a papermill-style
notebook runner on nbclient, and indexing into Elasticsearch with the library's sinks."""

from __future__ import annotations

import functools
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import orjson
import pyarrow as pa
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
DEMO_DAYS, DEMO_SEED = 14, 7


@dataclass
class DemoWorld:
    directory: Path
    events: Path
    alerts: Path
    labels: Path
    table: pa.Table
    alert_docs: list[dict[str, Any]]
    seconds: float


@functools.lru_cache(maxsize=1)
def demo_world() -> DemoWorld:
    """`run_world(days=14, seed=7)` once per process, in a temporary directory kept for the session."""
    from pipelines.demo import run_world

    directory = Path(tempfile.mkdtemp(prefix="tokenhawk-hunt-demo-"))
    started = time.perf_counter()
    run = run_world(directory, days=DEMO_DAYS, seed=DEMO_SEED, quiet=True)
    return DemoWorld(directory, directory / "events.parquet", directory / "alerts.jsonl",
                     directory / "world" / "labels.json", run.events, run.alerts, time.perf_counter() - started)


@dataclass
class NotebookRun:
    notebook: nbformat.NotebookNode
    seconds: float
    images: int = 0
    errors: list[str] = field(default_factory=list)


def inject_parameters(nb: nbformat.NotebookNode, parameters: dict[str, Any]) -> nbformat.NotebookNode:
    """Papermill's rule: a cell tagged `injected-parameters` right after the one tagged `parameters`."""
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    if len(tagged) != 1:
        raise ValueError(f"a notebook needs exactly one cell tagged 'parameters', found {len(tagged)}")
    cell = nbformat.v4.new_code_cell("\n".join(f"{name} = {value!r}" for name, value in parameters.items()))
    cell.metadata["tags"] = ["injected-parameters"]
    cell["id"] = "injected-parameters"
    nb.cells.insert(tagged[0] + 1, cell)
    return nb


def run_notebook(path: Path, parameters: dict[str, Any], *, cwd: Path = REPO, timeout: int = 900,
                 save_to: Path | None = None) -> NotebookRun:
    """Execute a notebook top to bottom with injected parameters; count its PNG outputs."""
    nb = inject_parameters(nbformat.read(path, as_version=4), parameters)
    started = time.perf_counter()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    client.execute()
    run = NotebookRun(nb, time.perf_counter() - started)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if "image/png" in output.get("data", {}):
                run.images += 1
            if output.get("output_type") == "error":
                run.errors.append(f"{output['ename']}: {output['evalue']}")
    if save_to is not None:
        nbformat.write(nb, save_to)
    return run


def alerts_file(path: Path, alerts: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(a) + b"\n" for a in alerts))
    return path
