"""Progress bars for long work (rich); silent when disabled, so library calls stay quiet by default."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class _Bar:
    def __init__(self, progress: Progress | None, task: int | None):
        self._progress, self._task = progress, task

    def advance(self, n: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)


SILENT = _Bar(None, None)  # a bar that shows nothing, for callers that time or script the steps


class EpochProgress:
    def __init__(self, progress: Progress | None):
        self._progress = progress

    @contextmanager
    def epoch(self, epoch: int, total: int) -> Iterator[_Bar]:
        if self._progress is None:
            yield SILENT
            return
        task = self._progress.add_task(f"epoch {epoch}", total=total)
        yield _Bar(self._progress, task)
        self._progress.update(task, visible=False)


@contextmanager
def epoch_progress(enabled: bool) -> Iterator[EpochProgress]:
    if not enabled:
        yield EpochProgress(None)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=False) as progress:
        yield EpochProgress(progress)
