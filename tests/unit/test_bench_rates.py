"""The end-to-end benchmark's steady rate (bench/pipeline.py)."""

import math

from bench.pipeline import steady_rate


def test_the_steady_rate_leaves_out_the_first_batch_and_the_last_timeouts():
    # nothing for 4 s, then 200 a second, then the last 10% trickle in over 5 s
    samples = [(t * 0.5, 0) for t in range(8)]
    samples += [(4 + t * 0.5, min(900, 100 * t)) for t in range(1, 10)]
    samples += [(9 + t, 900 + 20 * t) for t in range(1, 6)]
    assert steady_rate(samples, 1000) == 200.0
    assert 1000 / samples[-1][0] < 100  # the whole run's rate is half of it


def test_a_run_that_jumps_past_both_marks_at_once_has_no_steady_rate():
    assert math.isnan(steady_rate([(0.0, 0), (1.0, 1000)], 1000))


def test_the_worker_is_not_split_into_a_negative_rest():
    from bench.pipeline import PipelineRun, where_it_goes

    cpu = {"worker": 42.8, "Kafka": 5.4, "OpenSearch": 10.7}
    run = PipelineRun(6419, 33.1, 0.7, 219.0, cpu, 1580.0)
    table = where_it_goes(run, 258.0, 46.2 / 6419)  # the scorer alone was slower per mention
    values = [float(v) for v in table.columns[1]._cells]
    assert min(values) >= 0 and values[0] == 42.8
    split = where_it_goes(run, 258.0, 38.0 / 6419)
    assert [float(v) for v in split.columns[1]._cells][:2] == [38.0, 4.8]


def test_where_the_time_goes_counts_the_cores_from_the_replay_cli_s_launch():
    from bench.pipeline import PipelineRun, where_it_goes

    # the CPU counters run from the launch: 2 cores x (the 10 s run + 2 s of CLI start-up)
    run = PipelineRun(1000, 10.0, 2.0, 100.0, {"worker": 12.0}, 1.0)
    table = where_it_goes(run, 200.0, 0.01)
    assert "2 cores x 12 s" in str(table.columns[2].header)
    assert [float(v) for v in table.columns[1]._cells] == [10.0, 2.0, 12.0]  # idle: 24 - 12
    assert "100 mentions/s" in str(table.title) and "= 0.50 of" in str(table.title)


def test_kafka_bytes_are_summed_per_topic_of_the_run_over_its_partitions(tmp_path):
    from bench.pipeline import PipelineRun, kafka_bytes_by_topic, kafka_traffic

    def segment(directory: str, size: int, name: str = "00000000000000000000.log") -> None:
        (tmp_path / directory).mkdir(exist_ok=True)
        (tmp_path / directory / name).write_bytes(b"x" * size)
        (tmp_path / directory / "00000000000000000000.index").write_bytes(b"i" * 999)

    segment("benchab12.mentions-0", 100)
    segment("benchab12.mentions-1", 50)
    segment("benchab12.mentions.scored-0", 70)
    segment("benchab12-detector-state-changelog-3", 400)
    segment("benchab12-detector-state-changelog-3", 25, "00000000000000000400.log")
    segment("benchcd34.mentions-0", 1000)  # another run's topic
    (tmp_path / "meta.properties").write_text("not a partition")
    found = kafka_bytes_by_topic(tmp_path, "benchab12")
    assert found == {"mentions": 150, "mentions.scored": 70, "detector-state-changelog": 425}
    assert kafka_bytes_by_topic(tmp_path / "absent", "benchab12") == {}
    run = PipelineRun(5, 1.0, 0.0, 5.0, {}, 1.0, found)
    rows = kafka_traffic(run).columns[0]._cells
    assert rows == ["detector-state-changelog", "mentions", "mentions.scored"]


def test_the_ceiling_is_what_the_run_s_own_cpu_allows_on_its_cores(monkeypatch):
    from bench.pipeline import PipelineRun, where_it_goes

    monkeypatch.setattr("os.cpu_count", lambda: 2)
    # 1,000 mentions; scoring 4 ms CPU each (4 s) + the worker's rest 1 s + services 3 s = 8 s
    cpu = {"worker": 5.0, "Kafka": 1.0, "OpenSearch": 1.5, "replay (producer CLI)": 0.5}
    run = PipelineRun(1000, 5.0, 0.0, 200.0, cpu, 1.0)
    table = where_it_goes(run, 500.0, 0.004)  # the scorer alone: 500/s
    # never idle: 2 cores / 8 ms = 250/s = 0.50; with a free worker: 2 / 7 ms = 286/s = 0.57
    assert "8.00 ms of CPU a mention, 250/s = 0.50 of" in str(table.caption)
    assert "(7.00 ms), 286/s = 0.57" in str(table.caption)


def test_no_ceiling_is_claimed_where_a_service_was_not_measured(monkeypatch):
    from bench.pipeline import PipelineRun, where_it_goes

    cpu = {"worker": 5.0, "Kafka": float("nan")}
    table = where_it_goes(PipelineRun(1000, 5.0, 0.0, 200.0, cpu, 1.0), 500.0, 0.004)
    assert table.caption is None
