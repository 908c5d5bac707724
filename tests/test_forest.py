"""The isolation forest: equal to scikit-learn's scores, stored without pickle, refused when tampered."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from detector.detect.forest import fit_forest, load_forest, load_forests, save_forest
from detector.detect.windows import FEATURES
from detector.errors import ModelError

NAMES = [f"f{i}" for i in range(6)]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    train = rng.normal(size=(3000, 6)).astype(np.float32)
    test = np.vstack([rng.normal(size=(500, 6)), rng.normal(loc=4.0, size=(20, 6))]).astype(np.float32)
    return train, test


def test_scores_equal_scikit_learn(data):
    train, test = data
    forest = fit_forest("k8s", NAMES, train, n_estimators=50, seed=5)
    reference = IsolationForest(n_estimators=50, max_samples=256, random_state=5).fit(train)
    assert np.allclose(forest.anomaly(test), -reference.score_samples(test), atol=1e-12)
    # outliers score higher than the bulk, and beyond the training p99.9 threshold
    assert forest.anomaly(test[-20:]).min() > np.quantile(forest.anomaly(test[:500]), 0.9)
    assert forest.anomaly(test[-20:]).mean() > forest.train_anomaly["p999"]


def test_save_and_load_round_trip(tmp_path, data):
    train, test = data
    forest = fit_forest("aws", NAMES, train, n_estimators=20, meta={"training_window": ["a", "b"]})
    meta_path = save_forest(forest, tmp_path)
    meta = json.loads(meta_path.read_text())
    assert meta["features"] == NAMES and meta["rows"] == len(train)
    assert {"scikit-learn", "numpy"} <= set(meta["versions"]) and len(meta["data_sha256"]) == 64
    loaded = load_forest(meta_path, NAMES)
    assert np.array_equal(loaded.anomaly(test), forest.anomaly(test))
    assert set(load_forests(tmp_path, NAMES)) == {"aws"}


def test_tampered_model_is_refused(tmp_path, data):
    forest = fit_forest("gcp", NAMES, data[0], n_estimators=10)
    meta_path = save_forest(forest, tmp_path)
    npz = meta_path.with_suffix(".npz")
    npz.write_bytes(npz.read_bytes() + b"\0")
    with pytest.raises(ModelError, match="SHA-256"):
        load_forest(meta_path, NAMES)


def test_model_of_other_features_is_refused(tmp_path, data):
    meta_path = save_forest(fit_forest("azure", NAMES, data[0], n_estimators=10), tmp_path)
    with pytest.raises(ModelError, match="retrain"):
        load_forest(meta_path, FEATURES)


def test_pickles_are_never_loaded(tmp_path, data):
    """A model file that holds a pickled object array is rejected by numpy, never executed."""
    meta_path = save_forest(fit_forest("k8s", NAMES, data[0], n_estimators=10), tmp_path)
    npz = meta_path.with_suffix(".npz")
    np.savez(npz, left_0=np.array([object()], dtype=object))
    meta = json.loads(meta_path.read_text())
    import hashlib

    meta["artifact_sha256"] = hashlib.sha256(npz.read_bytes()).hexdigest()  # even with a matching hash
    meta_path.write_text(json.dumps(meta))
    with pytest.raises((ValueError, KeyError)):
        load_forest(meta_path, NAMES)
