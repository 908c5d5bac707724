"""Detector state to JSON-safe dicts and back: for the stream's compacted state topic and for files.

`snapshot(detector, keep)` takes the principals (with their tokens and open incidents) for which
`keep(principal_key)` is true — a Kafka partition's share — plus the fleet-wide facts every
partition needs (peer groups, population counts, cluster networks, pods, deletions, token
births, recent novelties, online-trained forests). `restore(detector, data)` merges a snapshot
into a detector, so several partitions' snapshots can be loaded into one process.

Nothing here is pickle: forests travel as `.npz` bytes loaded with allow_pickle=False.
"""

from __future__ import annotations

import base64
import io
from typing import Any, Callable

import numpy as np
import orjson

from .engine import Detector
from .forest import Forest
from .incidents import Incident
from .rules import Signal
from .state import Baseline, PrincipalState, TokenState
from .windows import BATCH_COLUMNS, IN_INCIDENT, PER_EVENT_COLUMNS, SUSPICIOUS

FORMAT = 1


def snapshot(detector: Detector, keep: Callable[[str], bool] | None = None) -> dict[str, Any]:
    principals = {k: p for k, p in detector.principals.items() if keep is None or keep(k)}
    tokens = {}
    for p in principals.values():
        for tkey in p.tokens:
            token = detector.tokens.get(tkey)
            if token is not None:
                tokens[tkey] = token.to_dict()
    incidents = [_incident_to_dict(i) for k, i in detector.incidents.items() if k in tokens]
    windows = _window_rows(detector, principals)
    return {
        "format": FORMAT,
        "started_at": detector.started_at,
        "max_ts": detector.max_ts,
        "watermark": detector.watermark,
        "principals": {k: p.to_dict() for k, p in principals.items()},
        "tokens": tokens,
        "incidents": incidents,
        "windows": windows,
        "window_flags": True,  # "susp" holds flags (windows.SUSPICIOUS | IN_INCIDENT), not 0/1
        "shared": {
            "peers": {k: b.to_dict() for k, b in detector.peers.items()},
            "population": {k: dict(v) for k, v in detector.population.items()},
            "population_size": dict(detector.population_size),
            "cluster_nets": detector.cluster_nets,
            "pods": detector.pods,
            "deleted_pods": detector.deleted_pods,
            "births": {k: list(v) for k, v in detector.births.items()},
            "novel_seen": detector.novel_seen,
            "window_ewma": {detector.code_names[c]: v for c, v in detector.window_ewma.items()},
            "forests": {pop: _forest_to_dict(f) for pop, f in detector.forests.items() if pop not in detector._given_forests},
        },
    }


def restore(detector: Detector, data: dict[str, Any]) -> None:
    if data.get("format") != FORMAT:
        raise ValueError(f"state snapshot format {data.get('format')} is not {FORMAT}")
    for name in ("started_at", "max_ts", "watermark"):
        value = data.get(name)
        current = getattr(detector, name)
        if value is not None:
            if name == "started_at":
                setattr(detector, name, value if current is None else min(current, value))
            else:
                setattr(detector, name, value if current is None else max(current, value))
    for key, p in data["principals"].items():
        detector.principals[key] = PrincipalState.from_dict(p)
    for key, t in data["tokens"].items():
        detector.tokens[key] = TokenState.from_dict(t)
    if data.get("windows"):
        windows = data["windows"]
        if not data.get("window_flags"):  # an older snapshot: 1 meant suspicious, which needs an open incident
            windows = dict(windows, susp=[SUSPICIOUS | IN_INCIDENT if v == 1 else v for v in windows["susp"]])
        _restore_window_rows(detector, windows)
    for i in data["incidents"]:
        incident = _incident_from_dict(i)
        detector.incidents[incident.token_key] = incident
    shared = data["shared"]
    for key, b in shared["peers"].items():
        mine = detector.peers.get(key)
        theirs = Baseline.from_dict(b)
        detector.peers[key] = theirs if mine is None or theirs.events >= mine.events else mine
    for key, counts in shared["population"].items():
        merged = detector.population.setdefault(key, type(detector.population_size)())
        for action, n in counts.items():
            merged[action] = max(merged.get(action, 0), n)
    for key, n in shared["population_size"].items():
        detector.population_size[key] = max(detector.population_size.get(key, 0), n)
    for tenant, nets in shared["cluster_nets"].items():
        detector.cluster_nets.setdefault(tenant, {}).update(nets)
    for uid, pod in shared["pods"].items():
        detector.pods.setdefault(uid, pod)
    detector.deleted_pods.update(shared["deleted_pods"])
    for key, birth in shared["births"].items():
        detector.births.setdefault(key, tuple(birth))
    for key, seen in shared["novel_seen"].items():
        detector.novel_seen.setdefault(key, {}).update(seen)
    for name, value in shared["window_ewma"].items():
        detector.window_ewma[detector._code(name)] = value
    for pop, f in shared["forests"].items():
        detector.forests.setdefault(pop, _forest_from_dict(f))


def _window_rows(detector: Detector, principals: dict) -> dict[str, list] | None:
    """Rows of still-open 5-minute windows for these principals, codes spelled out as names."""
    rows = detector.window_buffer.rows()
    if not rows:
        return None
    names = detector.code_names
    keep = np.fromiter((names[int(c)] in principals for c in rows["prin"]), dtype=bool, count=len(rows["prin"]))
    out: dict[str, list] = {}
    for column, values in rows.items():
        values = values[keep]
        if column in BATCH_COLUMNS and column != "win":
            out[column] = [names[int(c)] if c >= 0 else None for c in values]
        else:
            out[column] = values.tolist()
    return out


def _restore_window_rows(detector: Detector, windows: dict[str, list]) -> None:
    codes = {c: np.array([detector._code(v) for v in windows[c]], dtype=np.int64)
             for c in BATCH_COLUMNS if c != "win"}
    codes["win"] = np.asarray(windows["win"], dtype=np.int64)
    detector.window_buffer.add(codes, {c: windows[c] for c in PER_EVENT_COLUMNS})


def dumps(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY, default=_plain)


def loads(raw: bytes) -> dict[str, Any]:
    return orjson.loads(raw)


def _incident_to_dict(incident: Incident) -> dict[str, Any]:
    data = {name: getattr(incident, name) for name in Incident.__slots__}
    data["signals"] = {k: vars(s) for k, s in incident.signals.items()}
    for name in ("ips", "uas", "actions", "namespaces"):
        data[name] = dict(data[name])
    data["emitted_fingerprint"] = list(map(list, incident.emitted_fingerprint[:-1])) + [incident.emitted_fingerprint[-1]] \
        if incident.emitted_fingerprint else []
    return data


def _incident_from_dict(data: dict[str, Any]) -> Incident:
    from collections import Counter

    incident = Incident.__new__(Incident)
    for name in Incident.__slots__:
        setattr(incident, name, data[name] if name != "seen_ts" else data.get(name, data["last_ts"]))
    incident.signals = {k: Signal(**{**s, "techniques": tuple(s["techniques"])}) for k, s in data["signals"].items()}
    for name in ("ips", "uas", "actions", "namespaces"):
        setattr(incident, name, Counter(data[name]))
    fp = data["emitted_fingerprint"]
    incident.emitted_fingerprint = tuple(tuple(x) for x in fp[:-1]) + (fp[-1],) if fp else ()
    return incident


def _forest_to_dict(forest: Forest) -> dict[str, Any]:
    buffer = io.BytesIO()
    arrays = {}
    for i in range(len(forest.left)):
        for name in ("left", "right", "feature", "threshold", "leaf_depth"):
            arrays[f"{name}_{i}"] = getattr(forest, name)[i]
    np.savez_compressed(buffer, **arrays)
    return {
        "population": forest.population, "features": forest.features, "trees": len(forest.left),
        "max_samples": forest.max_samples, "train_anomaly": forest.train_anomaly,
        "feature_p50": forest.feature_p50, "feature_p99": forest.feature_p99, "meta": forest.meta,
        "npz": base64.b64encode(buffer.getvalue()).decode(),
    }


def _forest_from_dict(data: dict[str, Any]) -> Forest:
    with np.load(io.BytesIO(base64.b64decode(data["npz"])), allow_pickle=False) as arrays:
        n = data["trees"]
        parts = {name: [arrays[f"{name}_{i}"] for i in range(n)] for name in ("left", "right", "feature", "threshold", "leaf_depth")}
    return Forest(data["population"], data["features"], max_samples=data["max_samples"],
                  train_anomaly=data["train_anomaly"], feature_p50=data["feature_p50"],
                  feature_p99=data["feature_p99"], meta=data["meta"], **parts)


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot snapshot a {type(value).__name__}")
