"""The row form of events (Normalizer collects tuples in FIELDS order) and the block reader agree
with the dict form and the line-by-line reader they replace on the hot path."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pytest

from detector.events import FIELDS, event_of, new_event, row_of, rows_to_table, to_table
from detector.normalize import Normalizer, StageDeduper
from detector.normalize.reader import read_blocks, read_documents
from golden import FIXTURES, PUBLIC

OWN_K8S = FIXTURES / "k8s"


def _all_fixture_docs() -> list[tuple[bytes, str]]:
    docs = []
    for directory in (PUBLIC, FIXTURES):
        for path in sorted(p for p in directory.rglob("*") if p.is_file() and not p.name.endswith(".md")):
            docs += [(d.data, d.origin) for d in read_documents(str(path))]
    return docs


def test_rows_and_dicts_make_the_same_table():
    n = Normalizer()
    for data, origin in _all_fixture_docs():
        n.feed(data, origin)
    rows = n.ctx.rows[:]
    events = n.take()  # dicts, in FIELDS order
    assert len(events) == len(rows) > 50
    assert [row_of(e) for e in events] == rows
    assert all(list(e) == list(FIELDS) for e in events)
    assert rows_to_table(rows).equals(to_table(events))
    assert n.take_rows() == [] and n.take() == []


def test_rows_to_table_types_like_to_table():
    bad = new_event()
    bad.update(ts=1, source="k8s", status_code="200")
    with pytest.raises(pa.ArrowInvalid):
        rows_to_table([row_of(bad)])
    with pytest.raises(pa.ArrowInvalid):
        to_table([bad])
    assert rows_to_table([]).schema == to_table([]).schema


def test_dedup_on_rows_matches_dedup_on_dicts():
    n = Normalizer()
    for doc in read_documents(str(OWN_K8S / "stages.jsonl")):
        n.feed(doc.data, doc.origin)
    rows = n.take_rows()
    assert any(row[FIELDS.index("stage")] == "RequestReceived" for row in rows)
    for hold_us in (0, 10, 60_000_000):
        by_dict, by_row = StageDeduper(hold_us=hold_us), StageDeduper(hold_us=hold_us, rows=True)
        kept_dicts, kept_rows = [], []
        for i in range(0, len(rows), 3):  # several pushes: held copies released between them
            kept_dicts += by_dict.push([event_of(r) for r in rows[i:i + 3]])
            kept_rows += by_row.push(rows[i:i + 3])
        kept_dicts += by_dict.flush()
        kept_rows += by_row.flush()
        assert [row_of(e) for e in kept_dicts] == kept_rows
        assert by_dict.duplicates == by_row.duplicates


def test_fill_tenant_fills_only_missing_tenants_from_an_index():
    n = Normalizer()
    line = next(l for l in (OWN_K8S / "stages.jsonl").read_bytes().splitlines() if l.strip())
    n.feed(line, "a:1")
    n.feed(line, "a:2")
    n.fill_tenant("prod", since=1)
    tenants = [e["tenant"] for e in n.ctx.events]
    assert tenants == [None, "prod"]


def test_ctx_events_is_a_copy_of_the_rows():
    n = Normalizer()
    line = next(l for l in (OWN_K8S / "stages.jsonl").read_bytes().splitlines() if l.strip())
    n.feed(line, "a:1")
    n.ctx.events[0]["tenant"] = "changed"
    assert n.ctx.events[0]["tenant"] is None


@pytest.mark.parametrize("size", [1, 2, 3, 4096])
def test_read_blocks_is_read_documents_in_lists(tmp_path: Path, size: int):
    lines = b'{"a": 1}\n\n  \n{"a": 2}\r\n{"a": 3}\n\t\n{"a": 4}'
    plain = tmp_path / "x.jsonl"
    plain.write_bytes(b"\n" + lines)  # a leading blank line: numbering starts at the first document
    packed = tmp_path / "x.jsonl.gz"
    packed.write_bytes(gzip.compress(lines))
    for path in (plain, packed):
        blocks = list(read_blocks(str(path), size=size))
        assert all(0 < len(b) <= size for b in blocks)
        assert [d for b in blocks for d in b] == [tuple(d) for d in read_documents(str(path))]
    assert [o for b in read_blocks(str(plain)) for _, o in b] == [f"{plain}:{n}" for n in (1, 4, 5, 7)]


def test_feed_many_stops_where_feeding_one_by_one_would():
    docs = _all_fixture_docs()
    one = Normalizer()
    cuts_one = []
    for i, (data, origin) in enumerate(docs):
        one.feed(data, origin)
        if len(one.ctx.rows) >= 7:
            cuts_one.append((i + 1, one.take_rows()))
    many = Normalizer()
    cuts_many, start = [], 0
    while start < len(docs):
        start = many.feed_many(docs, start, until_rows=7)
        if len(many.ctx.rows) >= 7:
            cuts_many.append((start, many.take_rows()))
    assert cuts_one == cuts_many and len(cuts_one) > 5
    assert one.take_rows() == many.take_rows()
    assert (one.ctx.records, one.ctx.emitted, one.ctx.quarantined, one.ctx.skipped) == (
        many.ctx.records, many.ctx.emitted, many.ctx.quarantined, many.ctx.skipped)


def test_the_user_memo_keeps_each_line_its_own_answer():
    """k8s_fast maps a user object once per distinct bytes; lines sharing one still differ in
    everything else, and each must still agree with the generic path."""
    import orjson
    from test_normalize_fast import assert_agrees
    from test_normalize_k8s import base_event

    user = {"username": "system:serviceaccount:shop:web", "extra": {
        "authentication.kubernetes.io/credential-id": ["JTI=1"], "authentication.kubernetes.io/pod-name": ["web-0"]}}
    odd_user = {"username": 42}
    lines = [
        base_event(user=user),
        base_event(user=user, impersonatedUser={"username": "admin"}),  # declined whatever the user
        base_event(user=user, auditID="two", responseStatus={"code": 403, "reason": "Forbidden"}),
        base_event(user=odd_user),
        base_event(user=odd_user, auditID="three"),
        base_event(user=user, requestReceivedTimestamp="not a time"),
        base_event(user=user, auditID="four"),
    ]
    answered = [assert_agrees(orjson.dumps(line)) for line in lines]
    assert answered == [True, False, True, False, False, False, True]


def test_feed_many_without_a_limit_feeds_everything():
    docs = _all_fixture_docs()
    n = Normalizer()
    assert n.feed_many(docs) == len(docs)
    one = Normalizer()
    for data, origin in docs:
        one.feed(data, origin)
    assert n.take_rows() == one.take_rows()
