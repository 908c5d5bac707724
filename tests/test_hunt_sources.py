"""Opening hunt data: files, paths found from a notebook's folder, filters, time helpers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from detect_world import APP, CTRL, DAY, T0, World
from detector.alert import example_alert
from detector.event_files import EventWriter
from detector.events import to_table
from detector.hunt import sources
from detector.hunt.replay import events_table
from hunt_support import alerts_file


@pytest.fixture(scope="module")
def world() -> World:
    return World(days=1)


@pytest.fixture
def files(world: World, tmp_path: Path) -> tuple[Path, Path]:
    events = tmp_path / "out" / "demo" / "events.parquet"
    with EventWriter(events) as writer:
        writer.write(to_table(world.events))
    low = example_alert() | {"score": 41.0, "severity": "medium"}
    low["alert"] = {"id": "low", "status": "open"}
    high = example_alert()
    return events, alerts_file(tmp_path / "out" / "demo" / "alerts.jsonl", [low, high])


def test_find_file_looks_in_parent_folders(files, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert sources.find_file("out/demo/events.parquet") == files[0]
    with pytest.raises(FileNotFoundError, match="tokenhawk demo"):
        sources.find_file("out/nowhere.parquet")


def test_open_files_as_a_notebook_does(files, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    src = sources.open_source("files", events="out/demo/events.parquet", alerts="out/demo/alerts.jsonl")
    assert "files" in src.describe()
    frame = src.events()
    assert len(frame) == len(world.events) and list(frame.columns)[0] == "ts"
    assert str(frame["ts"].dtype) == "datetime64[us, UTC]" and frame["ts"].is_monotonic_increasing
    assert [a["alert"]["id"] for a in src.alerts()] == [example_alert()["alert"]["id"], "low"]
    assert src.alert()["score"] == 92.5 and src.alert("low")["score"] == 41.0
    assert src.alert(token=example_alert()["token"]["id"])["alert"]["id"] == example_alert()["alert"]["id"]
    with pytest.raises(LookupError):
        src.alert("nope")
    table = src.alerts_frame()
    assert list(table["alert_id"]) == [example_alert()["alert"]["id"], "low"] and table["signals"].tolist() == [1, 1]


def test_filters_and_time_windows(world: World) -> None:
    src = sources.FileSource(to_table(world.events), [])
    ctrl = src.events(principal=CTRL)
    assert len(ctrl) and set(ctrl["principal"]) == {CTRL}
    both = src.events(principal=[APP, CTRL, None])
    assert set(both["principal"]) == {APP, CTRL}
    start, end = T0 + DAY // 4, T0 + DAY // 2
    window = src.events(start=start, end=sources.to_iso(end))
    assert window["ts"].min() >= sources.to_time(start) and window["ts"].max() <= sources.to_time(end)
    assert len(src.events(limit=7)) == 7
    assert src.events(token_id=[]).empty
    with pytest.raises(ValueError, match="filterable fields"):
        src.events(resource="x")
    timeline = src.token_timeline(world.app_token_at(T0))
    assert len(timeline) == 24 and set(timeline["token_id"]) == {world.app_token_at(T0)}
    sightings = src.tokens_from_ip(world.app_ip)
    assert set(sightings["principal"]) == {APP} and len(sightings) == 24


def test_time_helpers() -> None:
    assert sources.to_iso("2026-11-02T00:00:00Z") == "2026-11-02T00:00:00.000000Z"
    assert sources.to_time(T0) == pd.Timestamp("2026-11-02", tz="UTC")
    assert sources.to_time("2026-11-02 01:00") == pd.Timestamp("2026-11-02 01:00", tz="UTC")
    assert sources.to_iso(None) is None
    assert not sources.present(float("nan")) and not sources.present(None) and sources.present("x")


def test_frames_round_trip_to_the_detector_table(world: World) -> None:
    table = to_table(world.events).sort_by("ts")
    frame = sources.events_frame(table)
    back = events_table(frame)
    assert back.schema == table.schema and back.equals(table)
    rows = sources.FileInvestigator(table).token_timeline(world.app_token_at(T0))
    assert sources.events_frame(rows)["event_id"].tolist() == [r["event_id"] for r in rows]


def test_open_source_errors() -> None:
    with pytest.raises(ValueError, match="events= and/or alerts="):
        sources.open_source("files")
    with pytest.raises(ValueError, match="'files' or 'es'"):
        sources.open_source("kafka")
    src = sources.open_source("es", es_url="http://127.0.0.1:9", es_alerts="logs-tokenhawk.alerts-x",
                              es_events="logs-tokenhawk.events-x")
    assert isinstance(src, sources.EsSource) and src.investigator.events == "logs-tokenhawk.events-x"
    assert "Elasticsearch" in src.describe()
