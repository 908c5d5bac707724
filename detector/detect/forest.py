"""Isolation forest over per-token window features: fitted with scikit-learn, stored without pickle.

scikit-learn fits the trees; we export each tree's arrays (children, split feature, threshold,
samples per node) into an `.npz` loaded with `allow_pickle=False`, and score with a vectorized
numpy traversal that reproduces `IsolationForest.score_samples` (a test checks equality). So a
model file can never execute code when loaded, and its metadata (feature order, library
versions, training window, data hash, the file's own SHA-256) is checked before use.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError

FORMAT_VERSION = 1


def average_path_length(n: np.ndarray) -> np.ndarray:
    """c(n): the mean depth of an unsuccessful search in a binary search tree of n points."""
    n = np.asarray(n, dtype=np.float64)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


@dataclass
class Forest:
    """Exported trees of one population's isolation forest, plus what it was trained on."""

    population: str
    features: list[str]
    left: list[np.ndarray]
    right: list[np.ndarray]
    feature: list[np.ndarray]
    threshold: list[np.ndarray]
    leaf_depth: list[np.ndarray]  # per node: edges from the root + c(samples), used at leaves
    max_samples: int
    # anomaly (= −score_samples) quantiles of the training windows, and per-feature p50/p99
    train_anomaly: dict[str, float] = field(default_factory=dict)
    feature_p50: list[float] = field(default_factory=list)
    feature_p99: list[float] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def anomaly(self, X: np.ndarray) -> np.ndarray:
        """Anomaly of each row in (0, 1]; higher is stranger (= −IsolationForest.score_samples)."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        rows = np.arange(X.shape[0])
        depths = np.zeros(X.shape[0], dtype=np.float64)
        for left, right, feat, thr, leaf_depth in zip(self.left, self.right, self.feature, self.threshold, self.leaf_depth):
            node = np.zeros(X.shape[0], dtype=np.int64)
            while True:
                inner = left[node] != -1
                if not inner.any():
                    break
                idx = rows[inner]
                n = node[inner]
                go_left = X[idx, feat[n]] <= thr[n]
                node[inner] = np.where(go_left, left[n], right[n])
            depths += leaf_depth[node]
        denominator = len(self.left) * average_path_length(np.array([self.max_samples]))[0]
        return 2.0 ** (-depths / denominator)


def preload_fitting() -> None:
    """Import what `fit_forest` needs now (a long-running process that will fit forests later
    should not stall then: scikit-learn's import takes seconds)."""
    import sklearn.ensemble  # noqa: F401


def fit_forest(population: str, features: list[str], X: np.ndarray, *, n_estimators: int = 100,
               max_samples: int = 256, seed: int = 0, meta: dict[str, Any] | None = None) -> Forest:
    """Fit scikit-learn's IsolationForest on training windows and export it."""
    from sklearn.ensemble import IsolationForest  # imported here: scoring never needs sklearn

    X = np.asarray(X, dtype=np.float32)
    model = IsolationForest(n_estimators=n_estimators, max_samples=min(max_samples, len(X)), random_state=seed)
    model.fit(X)
    forest = Forest(population, list(features), [], [], [], [], [], int(model.max_samples_))
    for tree, used in zip(model.estimators_, model.estimators_features_):
        t = tree.tree_
        forest.left.append(t.children_left.astype(np.int64))
        forest.right.append(t.children_right.astype(np.int64))
        # trees may see a subset/permutation of columns: map back to the original column index
        forest.feature.append(np.where(t.feature >= 0, np.asarray(used)[np.maximum(t.feature, 0)], 0).astype(np.int64))
        forest.threshold.append(t.threshold.astype(np.float64))
        # sklearn counts the root as depth 1 and subtracts 1: path length = edges + c(leaf samples)
        depth = _node_depths(t.children_left, t.children_right)
        forest.leaf_depth.append(depth + average_path_length(t.n_node_samples))
    # the training windows' own anomalies, for the alert thresholds: sklearn's compiled scoring
    # is 2-3x faster than the numpy traversal on this many rows and equal to it (test_forest.py)
    train = -model.score_samples(X)
    forest.train_anomaly = {
        "p50": float(np.quantile(train, 0.5)),
        "p99": float(np.quantile(train, 0.99)),
        "p999": float(np.quantile(train, 0.999)),
        "max": float(train.max()),
    }
    forest.feature_p50 = [float(v) for v in np.quantile(X, 0.5, axis=0)]
    forest.feature_p99 = [float(v) for v in np.quantile(X, 0.99, axis=0)]
    forest.meta = dict(meta or {}) | {
        "rows": int(len(X)),
        "n_estimators": n_estimators,
        "data_sha256": hashlib.sha256(X.tobytes()).hexdigest(),
    }
    return forest


def _node_depths(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    # on plain lists: indexing numpy arrays one element at a time made this loop most of a fit
    lefts, rights = left.tolist(), right.tolist()
    depth = [0.0] * len(lefts)
    for node, child in enumerate(lefts):  # children always have larger ids than their parent
        if child != -1:
            depth[child] = depth[rights[node]] = depth[node] + 1
    return np.asarray(depth, dtype=np.float64)


# --- storage ----------------------------------------------------------------------------------

def save_forest(forest: Forest, directory: str | Path) -> Path:
    """Write `<population>.npz` and `<population>.json` (metadata with the npz's SHA-256)."""
    import sklearn

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    for i in range(len(forest.left)):
        arrays[f"left_{i}"] = forest.left[i]
        arrays[f"right_{i}"] = forest.right[i]
        arrays[f"feature_{i}"] = forest.feature[i]
        arrays[f"threshold_{i}"] = forest.threshold[i]
        arrays[f"leaf_depth_{i}"] = forest.leaf_depth[i]
    npz = directory / f"{forest.population}.npz"
    np.savez_compressed(npz, **arrays)
    meta = {
        "format_version": FORMAT_VERSION,
        "population": forest.population,
        "features": forest.features,
        "trees": len(forest.left),
        "max_samples": forest.max_samples,
        "train_anomaly": forest.train_anomaly,
        "feature_p50": forest.feature_p50,
        "feature_p99": forest.feature_p99,
        "versions": {"scikit-learn": sklearn.__version__, "numpy": np.__version__},
        "artifact_sha256": _sha256(npz),
        **forest.meta,
    }
    path = directory / f"{forest.population}.json"
    path.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return path


def load_forest(meta_path: str | Path, expected_features: list[str]) -> Forest:
    """Load a saved forest after checking its hash and feature order; raises ModelError."""
    meta_path = Path(meta_path)
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{meta_path}: cannot read model metadata ({exc})") from exc
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"{meta_path}: format_version {meta.get('format_version')} is not {FORMAT_VERSION}")
    if meta.get("features") != list(expected_features):
        raise ModelError(
            f"{meta_path}: trained on features {meta.get('features')}, this tokenhawk computes {list(expected_features)}; retrain"
        )
    npz = meta_path.with_suffix(".npz")
    if not npz.exists():
        raise ModelError(f"{npz}: model arrays missing")
    if _sha256(npz) != meta.get("artifact_sha256"):
        raise ModelError(f"{npz}: SHA-256 does not match its metadata; the file was changed after training")
    with np.load(npz, allow_pickle=False) as data:
        trees = int(meta["trees"])
        forest = Forest(
            population=meta["population"],
            features=meta["features"],
            left=[data[f"left_{i}"] for i in range(trees)],
            right=[data[f"right_{i}"] for i in range(trees)],
            feature=[data[f"feature_{i}"] for i in range(trees)],
            threshold=[data[f"threshold_{i}"] for i in range(trees)],
            leaf_depth=[data[f"leaf_depth_{i}"] for i in range(trees)],
            max_samples=int(meta["max_samples"]),
            train_anomaly=meta["train_anomaly"],
            feature_p50=meta["feature_p50"],
            feature_p99=meta["feature_p99"],
            meta={k: meta[k] for k in ("rows", "data_sha256", "training_window", "versions") if k in meta},
        )
    return forest


def load_forests(directory: str | Path, expected_features: list[str]) -> dict[str, Forest]:
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelError(f"{directory}: no such model directory")
    forests = {}
    for meta_path in sorted(p for p in directory.glob("*.json") if p.name != "index.json"):
        forest = load_forest(meta_path, expected_features)
        forests[forest.population] = forest
    if not forests:
        raise ModelError(f"{directory}: holds no model (expected <population>.json + .npz files)")
    return forests


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
