"""The order bin/test hands test files to parallel workers: longest first, by the seconds each file took in a
recorded run (tests/file_seconds.json), so that no long file starts last and runs alone at the end. A file the
record does not know yet goes first when it holds a slow-marked test (it may be long), last otherwise.

Record the seconds again after adding or changing long tests: ``GRAINLOOP_RECORD_FILE_SECONDS=1 bin/test``
(setup, call and teardown of every test, summed per file, written when the whole run ends).
"""
from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

SECONDS_FILE = Path(__file__).with_name("file_seconds.json")
RECORD = "GRAINLOOP_RECORD_FILE_SECONDS"


def file_of(nodeid: str) -> str:
    return nodeid.split("::")[0]


def recorded() -> dict[str, float]:
    return json.loads(SECONDS_FILE.read_text()) if SECONDS_FILE.exists() else {}


def order(items: list) -> None:
    """Sort collected items in place by their file's recorded seconds, longest first; a file's tests stay
    together and in their order (the sort is stable)."""
    seconds = recorded()
    unknown_slow = max(seconds.values(), default=0.0) + 1.0
    slow_files = {file_of(item.nodeid) for item in items if item.get_closest_marker("slow")}

    def weight(item) -> float:
        name = file_of(item.nodeid)
        return seconds.get(name, unknown_slow if name in slow_files else 0.0)

    items.sort(key=lambda item: -weight(item))


class Recorder:
    """Sums each file's test seconds as reports reach the controlling process; writes them at the end."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def pytest_runtest_logreport(self, report) -> None:
        self.seconds[file_of(report.nodeid)] += report.duration

    def pytest_sessionfinish(self, session) -> None:
        ranked = dict(sorted(((k, round(v, 1)) for k, v in self.seconds.items()), key=lambda kv: -kv[1]))
        SECONDS_FILE.write_text(json.dumps(ranked, indent=1) + "\n")


def register(config) -> None:
    """Record only when asked, and only in the controlling process (not in a parallel worker)."""
    if os.environ.get(RECORD) and not hasattr(config, "workerinput"):
        config.pluginmanager.register(Recorder(), "grainloop-file-seconds")
