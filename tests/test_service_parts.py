"""The service's parts on their own: drift statistics against hand-computed values and real
titles, API keys and their file, the rate limiter, the request log's segments."""

from __future__ import annotations

import json
import math
import os
import stat
import threading
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from workbench.errors import WorkbenchError
from workbench.service.drift import (binned_psi, classifier_two_sample_auc, jensen_shannon, psi, tokens,
                                     unknown_token_share)
from workbench.service.files import ServiceFiles
from workbench.service.keys import KeyRing, add_key, list_keys, parse_rate, remove_key
from workbench.service.log import LogWriter, read_log, utc_now
from workbench.service.monitoring import parse_since
from workbench.service.ratelimit import RateLimiter, retry_after


def test_psi_by_hand():
    # served 30/70 against 50/50, half a count added to each side's categories
    s, r = np.array([30.5, 70.5]) / 101, np.array([50.5, 50.5]) / 101
    expected = float(np.sum((s - r) * np.log(s / r)))
    assert psi({"a": 30, "b": 70}, {"a": 50, "b": 50}) == pytest.approx(expected)
    assert psi({"a": 50, "b": 50}, {"a": 500, "b": 500}) == pytest.approx(0.0, abs=1e-12)
    # a category absent from the sample does not explode the index
    assert psi({"a": 100}, {"a": 99, "b": 1}) < 0.05
    assert math.isnan(psi({}, {"a": 1}))


def test_jensen_shannon_bounds():
    assert jensen_shannon({"a": 1}, {"b": 1}) == pytest.approx(math.log(2))
    assert jensen_shannon({"a": 3, "b": 1}, {"a": 6, "b": 2}) == pytest.approx(0.0, abs=1e-12)


def test_unknown_tokens_and_length_psi():
    share, n = unknown_token_share(["Nike Men Shoes", "Puma shoes"], {"nike", "men", "puma"})
    assert (share, n) == (pytest.approx(2 / 5), 5)
    assert tokens("Ürün ÇANTA, 32GB") == ["ürün", "çanta", "32gb"]  # any script, digits kept
    rng = np.random.default_rng(0)
    ref = rng.poisson(6, 2000)
    assert binned_psi(rng.poisson(6, 500), ref) < 0.05
    assert binned_psi(rng.poisson(12, 500), ref) > 0.25


def test_classifier_two_sample_test():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 8)), rng.normal(size=(300, 8))
    assert abs(classifier_two_sample_auc(a, b) - 0.5) < 0.08
    assert classifier_two_sample_auc(a, b + 1.0) > 0.95
    assert math.isnan(classifier_two_sample_auc(a[:3], b[:3]))


def test_keys_store_only_hashes_and_check_roles(tmp_path):
    path = tmp_path / "keys.json"
    key = add_key(path, "listing-form", "classify", "20/s")
    raw = path.read_text()
    assert key.split("_", 2)[2] not in raw and "sha256" in raw
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    ring = KeyRing(path)
    entry = ring.verify(key)
    assert entry.name == "listing-form" and entry.allows("viewer") and entry.allows("classify")
    assert not entry.allows("admin")
    assert ring.verify(key[:-1] + ("x" if key[-1] != "x" else "y")) is None
    assert ring.verify(None) is None and ring.verify("Bearer nonsense") is None
    again = add_key(path, "listing-form", "admin")  # a new key replaces the old one
    ring.reload()
    assert ring.verify(key) is None and ring.verify(again).role == "admin"
    assert [k.name for k in list_keys(path)] == ["listing-form"]
    assert remove_key(path, "listing-form") and not remove_key(path, "listing-form")
    with pytest.raises(WorkbenchError, match="role"):
        add_key(path, "x", "root")
    with pytest.raises(WorkbenchError, match="no spaces"):
        add_key(path, "two words", "viewer")
    with pytest.raises(WorkbenchError, match="600/min"):
        parse_rate("fast")


def test_rate_limiter_refills():
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert [limiter.take("k", "2/s") for _ in range(2)] == [0.0, 0.0]
    wait = limiter.take("k", "2/s")
    assert wait == pytest.approx(0.5) and retry_after(wait) == "1"
    now[0] += 0.5
    assert limiter.take("k", "2/s") == 0.0
    assert limiter.take("other", "2/s") == 0.0  # one bucket per key
    assert parse_rate("600/min") == (600.0, 60.0)


def test_log_writer_batches_segments_and_reads_them_back(tmp_path):
    files = ServiceFiles(tmp_path)
    writer = LogWriter(files, flush_seconds=60)
    t = utc_now()
    threads = [threading.Thread(target=lambda i=i: writer.add("feedback", {
        "feedback_id": f"f{i}", "prediction_id": f"p{i}", "time": t + timedelta(seconds=i), "key_name": "k",
        "by": "x", "accepted": i % 2 == 0, "category": None, "predicted": "A > B", "run_id": "r", "rank": None}))
        for i in range(200)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert writer.pending() == 200 and files.segments("feedback") == []
    assert writer.flush() == 200
    assert len(files.segments("feedback")) == 1  # one segment per flush, not per record
    back = read_log(files, "feedback")
    assert len(back) == 200 and back["accepted"].sum() == 100
    assert len(read_log(files, "feedback", since=t + timedelta(seconds=150))) == 50
    assert len(read_log(files, "feedback", where="prediction_id = ?", params=["p7"])) == 1
    assert not any(p.name.endswith(".tmp") for p in (tmp_path / "service").rglob("*"))
    # sellers' titles are the owner's only, like the workspace database
    written = [tmp_path / "service", *(tmp_path / "service").rglob("*")]
    assert {stat.S_IMODE(p.stat().st_mode) for p in written if p.is_dir()} == {0o700}
    assert {stat.S_IMODE(p.stat().st_mode) for p in written if p.is_file()} == {0o600}
    assert read_log(files, "requests").empty  # a stream never written reads as empty


def test_since_accepts_durations_and_times():
    now = utc_now()
    assert abs((now - parse_since("2h")) - timedelta(hours=2)) < timedelta(seconds=5)
    assert parse_since("all") is None
    assert parse_since("2026-01-05T10:00:00+01:00").hour == 9
    with pytest.raises(ValueError, match="duration"):
        parse_since("yesterday")
    assert json.dumps(str(parse_since("2026-01-05")))


def test_finished_hours_are_merged_into_one_segment(tmp_path):
    files = ServiceFiles(tmp_path)
    writer = LogWriter(files, flush_seconds=60)
    past = utc_now() - timedelta(hours=3)
    for batch in range(3):
        for i in range(10):
            writer.add("requests", {"request_id": f"r{batch}-{i}", "time": past + timedelta(seconds=batch),
                                    "method": "GET", "path": "/v1/health", "status": 200, "latency_ms": 1.0})
        writer.flush()
    assert len(files.segments("requests")) == 3
    assert writer.compact() == 3
    assert len(files.segments("requests")) == 1
    back = read_log(files, "requests")
    assert len(back) == 30 and back["request_id"].is_unique


def test_one_sync_thread_per_workspace_and_process(tmp_path):
    from workbench import Workspace
    from workbench.service.sync import start_sync

    Workspace(tmp_path).close()
    first = start_sync(tmp_path, interval=60)
    try:
        assert start_sync(tmp_path, interval=60) is first and first.is_alive()
    finally:
        first.stop()
        first.join(timeout=30)
    assert not first.is_alive()


def test_the_monitoring_page_says_when_thresholds_were_tuned_on_another_run():
    from workbench.app.pages.monitoring import serving_html

    snapshot = {"serving": {"run_id": "r2", "source": "promoted", "model": "tfidf", "metrics": {"valid_accuracy": 0.9}},
                "shadow": None, "thresholds": {"global": 0.7, "overrides": {}, "run_id": "r1<b>",
                                               "warning": "the published thresholds were tuned on run r1<b>, not on run r2"}}
    html = serving_html(snapshot)
    assert "wb-threshold-warning" in html and "tuned on run r1&lt;b&gt;, not on run r2" in html
    assert "wb-threshold-warning" not in serving_html({**snapshot, "thresholds": {"global": None, "overrides": {}}})


def test_the_monitoring_figures_read_shares_as_percent():
    import holoviews as hv

    from workbench.plots.monitoring import confidence_plot, mix_plot, statistic_over_time

    rng = np.random.default_rng(0)
    mix = pd.DataFrame({"category": ["A > B", "A > C", "D > E"], "served": [0.5, 0.3, 0.2], "training": [0.2, 0.3, 0.5]})
    series = pd.DataFrame({"bucket": pd.date_range("2026-12-01", periods=4, freq="h"), "low": [0.1, 0.2, 0.15, 0.4]})
    figures = [confidence_plot({"served": rng.random(200), "test split": rng.random(300)}, threshold=0.8),
               mix_plot(mix, level="family"), statistic_over_time(series, "low", label="share", threshold=0.3, percent=True)]
    for element in figures:
        fig = hv.render(element)
        assert fig.yaxis[0].formatter.format == "0%", element
    fig = hv.render(statistic_over_time(series, "low", label="psi", threshold=0.25))
    assert getattr(fig.yaxis[0].formatter, "format", None) != "0%"  # a PSI is no share


def test_a_segment_that_runs_past_midnight_is_read_from_the_next_day(tmp_path):
    files = ServiceFiles(tmp_path)
    writer = LogWriter(files, flush_seconds=60)
    midnight = datetime(2026, 12, 2)
    for i, t in enumerate([midnight - timedelta(seconds=1), midnight + timedelta(seconds=1)]):
        writer.add("feedback", {"feedback_id": f"f{i}", "prediction_id": f"p{i}", "time": t, "key_name": "k",
                                "by": "x", "accepted": True, "category": None, "predicted": "A > B", "run_id": "r",
                                "rank": None})
    writer.flush()
    assert [p.parent.name for p in files.segments("feedback")] == ["date=2026-12-01"]  # filed by its first record
    assert read_log(files, "feedback", since=midnight)["feedback_id"].tolist() == ["f1"]
    assert read_log(files, "feedback", until=midnight)["feedback_id"].tolist() == ["f0"]


def test_a_share_and_its_alert_are_written_alike_on_the_page():
    from workbench.app.pages.monitoring import statistics_html

    frame = pd.DataFrame([
        {"key": "error_share", "statistic": "share of requests failing (5xx)", "value": 0.0, "side": ">",
         "threshold": 0.05, "n": 5, "status": "ok", "detail": ""},
        {"key": "latency_p99_ms", "statistic": "p99 latency", "value": 283.0, "side": ">", "threshold": 250.0,
         "n": 2, "status": "too few", "detail": ""}])
    html = statistics_html(frame)
    assert "<td class='wb-stat-value'>0.0%</td><td>&gt; 5.0%</td>" in html
    assert "<td>&gt; 250</td>" in html


def test_a_reference_being_written_reads_as_not_built(tmp_path):
    """The dashboards' sync thread and a page's button may build a run's reference at the same
    moment: until its last file (reference.json) is in place, a reader sees none, never half."""
    from workbench.service.files import write_json
    from workbench.service.reference import VERSION, load_reference

    folder = tmp_path / "reference" / "run-1"
    write_json(folder / "reference.json", {"version": VERSION, "run_id": "run-1", "level_names": ["a"], "mix": {},
                                           "vocabulary": [], "title_length_counts": {"3": 2},
                                           "baseline": {"unknown_token_share": 0.1}, "n_train": 2})
    assert load_reference(folder) is None  # its Parquet files are not there (yet)
