"""Committed notebooks carry no outputs, and their cells only call library helpers."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from detector.hunt import strip
from hunt_support import NOTEBOOKS, inject_parameters

COMMITTED = sorted(NOTEBOOKS.glob("*.ipynb"))
ALLOWED_IMPORTS = {"detector.hunt", "pandas", "IPython.display"}


def test_there_are_notebooks() -> None:
    assert {p.stem for p in COMMITTED} >= {"triage-alert", "fleet-hunt", "model-health"}


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.name)
def test_committed_notebook_is_stripped(path: Path) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert strip.dirty_cells(nb) == [], f"{path} has outputs: run python -m detector.hunt.strip {path}"
    assert strip.dumps(strip.strip_notebook(nb)) == path.read_text(encoding="utf-8"), \
        f"{path} has run metadata: run python -m detector.hunt.strip {path}"
    assert strip.main(["--check", str(path)]) == 0


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.name)
def test_cells_call_helpers_and_define_nothing(path: Path) -> None:
    """Logic lives in detector/hunt: cells define no functions or classes and import only the
    helpers, pandas and IPython's display."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one papermill `parameters` cell"
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        code = "\n".join(line for line in source.splitlines() if not line.startswith("%"))
        for node in ast.walk(ast.parse(code)):
            assert not isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Lambda, ast.For, ast.While)), source
            if isinstance(node, ast.ImportFrom):
                assert node.module in ALLOWED_IMPORTS, node.module
            if isinstance(node, ast.Import):
                assert all(a.name in ALLOWED_IMPORTS for a in node.names), source


def test_strip_removes_outputs_and_run_metadata(tmp_path: Path) -> None:
    nb = {
        "cells": [
            {"cell_type": "markdown", "id": "m", "metadata": {}, "source": ["# t"]},
            {"cell_type": "code", "id": "c", "execution_count": 3, "metadata": {"tags": ["parameters"],
             "execution": {"iopub.status.busy": "2026-01-01"}, "scrolled": True},
             "outputs": [{"output_type": "stream", "name": "stdout", "text": ["x\n"]}], "source": ["x = 1"]},
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                     "language_info": {"name": "python", "version": "3.11.9"}, "widgets": {"state": {}}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(nb))
    assert strip.dirty_cells(nb) == [1] and not strip.is_stripped(nb)
    assert strip.main(["--check", str(path)]) == 1
    assert strip.main([str(path)]) == 0
    clean = json.loads(path.read_text())
    cell = clean["cells"][1]
    assert cell["outputs"] == [] and cell["execution_count"] is None
    assert cell["metadata"] == {"tags": ["parameters"]}
    assert clean["metadata"] == {"kernelspec": nb["metadata"]["kernelspec"], "language_info": {"name": "python"}}
    assert strip.is_stripped(clean) and strip.main(["--check", str(path)]) == 0
    before = path.read_text()
    strip.main([str(path)])
    assert path.read_text() == before, "stripping is idempotent"


def test_parameters_are_injected_after_the_parameters_cell() -> None:
    import nbformat

    nb = nbformat.read(NOTEBOOKS / "triage-alert.ipynb", as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    inject_parameters(nb, {"alert_id": "abc", "source": "es"})
    injected = nb.cells[index + 1]
    assert injected.metadata["tags"] == ["injected-parameters"]
    assert injected.source == "alert_id = 'abc'\nsource = 'es'"
    nbformat.validate(nb)
