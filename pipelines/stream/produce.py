"""Loading files into topics (a development and test helper): raw audit logs into a raw topic,
or normalized events into the events and facts topics exactly as the normalize processor
publishes them."""

from __future__ import annotations

from typing import Callable, Iterable

import pyarrow as pa

from detector.normalize.reader import expand_inputs, read_documents

from .config import KafkaConfig
from .normalize import EventPublisher


def producer_for(config: KafkaConfig):
    from kafka import KafkaProducer

    return KafkaProducer(**config.producer_kwargs(linger_ms=20, batch_size=512 * 1024))


def produce_raw(config: KafkaConfig, topic: str, inputs: list[str], *, tenant: str | None = None,
                on_record: Callable[[int], None] | None = None) -> int:
    """Every raw document of the inputs (lines of JSON-lines files, whole JSON files, .gz) as
    one record of `topic`, keyed by file so one file's records stay in order; returns the count."""
    producer = producer_for(config)
    headers = [("tenant", tenant.encode())] if tenant else None
    n = 0
    try:
        for path in expand_inputs(inputs):
            key = str(path).encode()
            for doc in read_documents(path):
                producer.send(topic, key=key, value=doc.data, headers=headers)
                n += 1
                if on_record is not None:
                    on_record(1)
        producer.flush()
    finally:
        producer.close()
    return n


def produce_events(config: KafkaConfig, tables: Iterable[pa.Table], producer=None) -> int:
    """Events (time-ordered tables) → events topic keyed by principal, facts → facts topic."""
    own = producer is None
    producer = producer or producer_for(config)
    publisher = EventPublisher(config, producer, processor="produce")
    n = 0
    try:
        for table in tables:
            columns = table.to_pydict()
            names = list(columns)
            n += publisher.publish(dict(zip(names, row)) for row in zip(*columns.values()))
        producer.flush()
    finally:
        if own:
            producer.close()
    return n
