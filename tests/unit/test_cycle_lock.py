"""Only one cycle at a time per workspace: a second exits with a clear message (or waits)."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from flows.cycle import CycleBusy, cycle_lock


def _cfg(tmp_path: Path):
    return SimpleNamespace(state_dir=tmp_path / ".grainloop", workspace=tmp_path)


def test_a_second_cycle_is_refused_with_the_holders_pid(tmp_path):
    cfg = _cfg(tmp_path)
    with cycle_lock(cfg):
        with pytest.raises(CycleBusy, match=rf"another cycle is running in .* \(pid {os.getpid()}\).*--wait"):
            with cycle_lock(cfg):
                pass
    with cycle_lock(cfg):  # released: the next one runs
        pass


def test_a_waiting_cycle_runs_once_the_first_is_done(tmp_path):
    cfg, order = _cfg(tmp_path), []

    def second():
        with cycle_lock(cfg, wait=True):
            order.append("second")

    with cycle_lock(cfg):
        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(0.3)
        order.append("first done")
    waiter.join(5)
    assert order == ["first done", "second"]
