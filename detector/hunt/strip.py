"""Strip notebook outputs before committing (like nbstripout, with no dependency).

    python -m detector.hunt.strip notebooks/*.ipynb          # rewrite in place
    python -m detector.hunt.strip --check notebooks/*.ipynb  # exit 1 and name the dirty ones

Removes every code cell's outputs and execution count, and the metadata that changes on each run
(execution timings, widget state, the kernel's Python version), keeping cell tags (the
`parameters` cell) and the kernelspec. The JSON is written the way Jupyter writes it (indent 1,
sorted keys), so a stripped notebook diffs cleanly.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

VOLATILE_CELL_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime", "papermill")
VOLATILE_NOTEBOOK_METADATA = ("widgets", "papermill")


def strip_notebook(nb: dict[str, Any]) -> dict[str, Any]:
    """The notebook without outputs, execution counts or run-dependent metadata (a new dict)."""
    nb = json.loads(json.dumps(nb))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        meta = cell.get("metadata", {})
        for key in VOLATILE_CELL_METADATA:
            meta.pop(key, None)
    meta = nb.get("metadata", {})
    for key in VOLATILE_NOTEBOOK_METADATA:
        meta.pop(key, None)
    if "language_info" in meta:
        meta["language_info"] = {"name": meta["language_info"].get("name", "python")}
    return nb


def dumps(nb: dict[str, Any]) -> str:
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def is_stripped(nb: dict[str, Any]) -> bool:
    return strip_notebook(nb) == nb


def dirty_cells(nb: dict[str, Any]) -> list[int]:
    """Indexes of code cells that carry outputs or an execution count."""
    return [i for i, c in enumerate(nb.get("cells", []))
            if c.get("cell_type") == "code" and (c.get("outputs") or c.get("execution_count") is not None)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m detector.hunt.strip", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="only report notebooks that are not stripped (exit 1)")
    args = parser.parse_args(argv)
    dirty = []
    for path in args.notebooks:
        text = path.read_text(encoding="utf-8")
        nb = json.loads(text)
        clean = dumps(strip_notebook(nb))
        if clean == text:
            continue
        dirty.append(path)
        if not args.check:
            path.write_text(clean, encoding="utf-8")
            print(f"stripped {path}", file=sys.stderr)
    if args.check and dirty:
        for path in dirty:
            print(f"{path}: has outputs or run metadata; run python -m detector.hunt.strip {path}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
