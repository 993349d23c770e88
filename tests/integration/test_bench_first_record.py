"""`make bench` starts its end-to-end clock when the first mention reaches Kafka
(bench/pipeline.py `FirstRecord`), watched on the real broker."""

from __future__ import annotations

import time

import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from bench.pipeline import FirstRecord


def test_the_clock_starts_when_the_first_record_lands_not_before(real_services, run_id):
    topic = f"{run_id}.mentions"
    admin = KafkaAdminClient(bootstrap_servers=real_services["kafka"])
    try:
        admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        admin.close()
    watch = FirstRecord(real_services["kafka"], topic)
    time.sleep(0.5)  # an empty topic is not a first record
    assert watch.at is None
    producer = KafkaProducer(bootstrap_servers=real_services["kafka"])
    try:
        sent = time.perf_counter()
        producer.send(topic, key=b"k", value=b"{}").get(timeout=30)
        acked = time.perf_counter()
    finally:
        producer.close()
    seen = watch.wait()
    assert sent <= seen < acked + 1.0


def test_a_topic_that_never_gets_a_record_is_an_error_not_a_time(real_services, run_id):
    watch = FirstRecord(real_services["kafka"], f"{run_id}.absent", poll_s=0.01)
    with pytest.raises(AssertionError, match="no record was ever seen"):
        watch.wait(timeout_s=0.5)


def test_a_watch_stopped_early_closes_its_consumer(real_services, run_id):
    """A run that fails before it ends stops the watch (bench_pipeline's finally)."""
    watch = FirstRecord(real_services["kafka"], f"{run_id}.absent", poll_s=0.01)
    watch.stop()
    watch._thread.join(10)
    assert not watch._thread.is_alive() and watch.at is None
