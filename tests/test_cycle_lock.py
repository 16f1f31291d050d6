"""`workbench cycle` run by two schedulers at once, and a shadow that ends by the clock.

Two cron jobs (or a cron job and the Monitoring page's button) may call ``workbench cycle`` at
the same minute: only one takes a step, the other says so and writes nothing. A lock left by a
process that died does not block the cycle for ever. A shadow configured by hours ends when the
hours have passed even if fewer requests than configured came in.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import pytest

from workbench.service.cycle import run_cycle
from workbench.service.cycle_config import DEFAULTS
from workbench.service.cycle_records import cycle_history
from workbench.service.cycle_shadow import shadow_done
from workbench.service.files import ServiceFiles
from workbench.service.log import utc_now


@pytest.fixture()
def small_ws(sample_workspace):
    return sample_workspace("cycle_lock", 200)


def _lock(ws):
    return ServiceFiles(ws.path).root / "cycle.lock"


def _hold_lock(ws, pid: int) -> None:
    path = _lock(ws)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{pid} {utc_now().isoformat()}")


def test_a_second_cycle_at_the_same_time_does_nothing_and_says_who_holds_it(small_ws):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _hold_lock(small_ws, other.pid)
        before = len(cycle_history(small_ws))
        step = run_cycle(small_ws, by="cron-b", retrain_now=True)
        assert step.state == "busy" and step.exit_code == 0
        assert f"process {other.pid}" in step.message and "does nothing" in step.message
        assert len(cycle_history(small_ws)) == before, "a busy call writes no history"
        assert _lock(small_ws).read_text().split()[0] == str(other.pid), "the holder's lock is left alone"
        out = subprocess.run([sys.executable, "-m", "workbench.cli.main", "cycle", "--workspace", str(small_ws.path),
                              "--json"], capture_output=True, text=True, timeout=120)
        answer = json.loads(out.stdout)
        assert out.returncode == 0 and answer["state"] == "busy", out.stderr[-2000:]
    finally:
        other.kill()
        other.wait()


def test_a_lock_left_by_a_dead_process_is_taken_over_and_released(small_ws):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _hold_lock(small_ws, dead.pid)
    step = run_cycle(small_ws, by="cron-a")
    assert step.state != "busy", step.message
    assert not _lock(small_ws).exists(), "the step releases the lock it took"


def test_a_shadow_configured_in_hours_ends_by_the_clock():
    settings = {**DEFAULTS, "shadow_requests": 1000, "shadow_hours": 2}
    now = utc_now()
    assert not shadow_done({"n": 40}, settings, now - timedelta(hours=1, minutes=59))
    assert shadow_done({"n": 40}, settings, now - timedelta(hours=2, minutes=1))
    assert not shadow_done({"n": 0}, settings, now - timedelta(hours=30)), "a shadow that saw nothing goes on"
    assert shadow_done({"n": 1000}, settings, now), "enough requests end it at once"
    by_requests = {**settings, "shadow_hours": 0}
    assert not shadow_done({"n": 999}, by_requests, now - timedelta(days=30))
