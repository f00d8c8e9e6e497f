"""A child process for the crash tests: runs one writer and SIGKILLs itself right after a named step.

    python -m tests.integration.crash_child commit ROOT STEP
    python -m tests.integration.crash_child register PROJECT MODEL_NAME DATASET MODEL_FILE STEP
    python -m tests.integration.crash_child promote PROJECT MODEL_NAME VERSION STEP

The step is a real one of the production code, wrapped here (never in the code under test): the wrapper calls it
and, when it is the named step, kills this process with SIGKILL before anything else runs. A STEP of "none"
runs to the end. Exit code 0 means the step was never reached.

The tests fork each child from a server process that imported the writers once (``forked``): a fresh
interpreter's imports took most of each case. The fork is a new process all the same, killed the same way.
"""
from __future__ import annotations

import functools
import os
import signal
import sys
from pathlib import Path
from types import SimpleNamespace

KILL_STEPS = {
    "commit": ("dvc add", "dvc push", "git add", "git commit", "tag"),
    "register": ("run tags", "register", "version tags", "alias"),
    "promote": ("decision record", "history", "champion alias", "previous alias", "outcome tag"),
}


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def after(owner, attr: str, is_step) -> None:
    """Wrap owner.attr: call it, then die if is_step(*args) says this call was the step."""
    original = getattr(owner, attr)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        if is_step(*args, **kwargs):
            die()
        return result
    setattr(owner, attr, wrapper)


def commit(root: str, step: str) -> None:
    import dataset.commit as c
    from dataset.versioning import VersionConfig

    words = {"dvc add": ("dvc", "add"), "dvc push": ("dvc", "push"), "git add": ("git", "add"),
             "git commit": ("git", "commit")}
    if step in words:
        tool, verb = words[step]
        after(c, tool, lambda cfg, *args, **kw: [a for a in args if not a.startswith("-")
                                                   and "=" not in a][:1] == [verb])
    elif step == "tag":
        after(c, "tag_version", lambda *a, **kw: True)
    c.commit_version(VersionConfig(Path(root)))


def _tracking(project: str, model_name: str):
    from dataclasses import replace

    from flows.tracking import TrackingConfig

    return replace(TrackingConfig.for_project(Path(project), env={}), model_name=model_name)


def register(project: str, model_name: str, dataset: str, model_file: str, step: str) -> None:
    """The train flow's decision: a dataset tag already registered is not registered again."""
    import mlflow

    import flows.registry as r
    from flows.tracking import CHALLENGER, TAG_KIND
    from flows.train import registered_for
    from ml.train_options import train_config

    client = mlflow.MlflowClient
    if step == "run tags":
        after(mlflow, "set_tags", lambda tags: TAG_KIND in tags)
    elif step == "register":
        after(r, "log_model", lambda *a, **kw: True)
    elif step == "version tags":  # the last lineage tag set on the version: the one before the alias
        original = client.set_registered_model_alias
        client.set_registered_model_alias = lambda self, name, alias, v: die() if alias == CHALLENGER \
            else original(self, name, alias, v)
    elif step == "alias":
        after(client, "set_registered_model_alias", lambda self, name, alias, v: alias == CHALLENGER)
    tracking = _tracking(project, model_name)
    if registered_for(SimpleNamespace(tracking=tracking), dataset) is None:
        r.log_trained(tracking, Path(model_file), train_config(epochs=1, decoder_channels=(16,) * 5),
                      {"mean_fg_iou": 0.7}, tags=r.RunTags(dataset, git_sha="x"))


def promote(project: str, model_name: str, version: str, step: str) -> None:
    """The cycle's decision (flows/cycle.py evaluate_and_promote): judge a version once, on recorded metrics."""
    import mlflow

    import flows.promotion as p
    from flows.tracking import CHAMPION, PREVIOUS, TAG_CHAMPION_HISTORY, TAG_PROMOTION, client as make_client

    client = mlflow.MlflowClient
    if step == "decision record":
        # (before the fix, `record` both wrote the decision run and tagged the version: the same kill point)
        after(p, "record_decision" if hasattr(p, "record_decision") else "record", lambda *a, **kw: True)
    elif step == "history":
        after(client, "set_registered_model_tag", lambda self, name, key, value: key == TAG_CHAMPION_HISTORY)
    elif step in ("champion alias", "previous alias"):
        alias = CHAMPION if step == "champion alias" else PREVIOUS
        after(client, "set_registered_model_alias", lambda self, name, a, v: a == alias)
    elif step == "outcome tag":
        after(client, "set_model_version_tag", lambda self, name, v, key, value: key == TAG_PROMOTION)
    tracking = _tracking(project, model_name)
    if not make_client(tracking).get_model_version(model_name, version).tags.get(TAG_PROMOTION):
        p.promote(tracking, version, p.PromotionRule(minimums={"mean_fg_iou": 0.5}))


WRITERS = {"commit": commit, "register": register, "promote": promote}
PRELOAD = ("tests.integration.crash_child", "mlflow", "dataset.commit", "flows.promotion", "flows.registry",
           "flows.train", "ml.train_options")


def run(args: tuple[str, ...], log: str) -> None:
    """A forked child's entry: its stderr goes to the file ``log``, then the writer runs."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 2)
    kind, *rest = args
    WRITERS[kind](*rest)


def forked(args: tuple[str, ...], log: str, timeout: float = 300) -> int | None:
    """Run one child forked from the preloaded server; its exit code, or None when it outlived ``timeout``."""
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))  # no effect once the server runs: it keeps what it preloaded
    child = context.Process(target=run, args=(args, log))
    child.start()
    child.join(timeout)
    if child.is_alive():
        child.kill()
        child.join()
        return None
    return child.exitcode


if __name__ == "__main__":
    kind, *args = sys.argv[1:]
    WRITERS[kind](*args)
