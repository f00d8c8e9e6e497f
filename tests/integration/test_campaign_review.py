"""Issue 15's Done-when on the real Label Studio: a campaign of three annotator accounts and a reviewer, each posting
through its own token. The loop holds low-agreement tasks back (``labeling.min_agreement`` 0.6, policy
``majority``, set through `grainloop config set`); the annotators draw known rectangles, so one overlap task
disagrees (held), the other agrees (a consensus mask with its agreement in the next dataset version). The reviewer
rejects an annotation of the held task through the CLI, its annotator redraws it with its own token, the reviewer
accepts it, and the next dataset version has that task's consensus. `grainloop campaign status`'s figures (done
/ assigned, median lead time, agreement with the consensus, gold IoU, edit cost against the pre-annotation,
rejections, held tasks, pairwise matrix) equal values computed here from the masks this test posted, at each
step; the report is in the campaign's folder and in MLflow with the dataset version."""
from __future__ import annotations

import json
import uuid
from collections import defaultdict
from statistics import median

import numpy as np
import pytest
from typer.testing import CliRunner

from dataset.commit import checkout_version
from dataset.manifest import read_manifest
from flows.annotator import SimulatedAnnotator
from flows.campaign import campaigns_dir, review_annotation
from flows.campaign_status import campaign_report
from flows.cycle import version_dataset
from flows.loop_config import load_loop_config, save_loop_config
from flows.sync import sync_annotations
from flows.tracking import KIND_CAMPAIGN, TAG_DATASET, TAG_KIND, client
from grainloop.cli import app
from labeling.accounts import ACCOUNTS_FILE, read_accounts
from labeling.api import Connection
from labeling.campaign import load_plan
from labeling.regions import brush_results
from ml.io import read_mask
from tests.integration.campaign_helpers import client as user_client, label_until_empty, push_scores, tasks_of
from tests.integration.loop_helpers import demo_setup

pytestmark = pytest.mark.slow
TEAM = tuple(f"{who}-{uuid.uuid4().hex[:6]}@lab.test" for who in ("dee", "eli", "fay"))
REVIEWER = f"rev-{uuid.uuid4().hex[:6]}@lab.test"
PRE = (slice(8, 24), slice(8, 40))  # the champion's pre-annotation: foreground in this box
BOXES = {"single": [(slice(4, 20), slice(6, 30))], "high": [(slice(4, 20), slice(6, 30)), (slice(4, 20), slice(6, 32))],
         "low": [(slice(4, 20), slice(6, 30)), (slice(30, 46), slice(40, 60))],
         "gold": [(slice(4, 20 + 4 * k), slice(6, 30)) for k in range(3)]}
REDO = (slice(4, 20), slice(6, 31))


def _box(shape, box) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    mask[box] = 1
    return mask


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(((a == 1) & (b == 1)).sum() / ((a == 1) | (b == 1)).sum())


def _expected(work: dict[int, list], truth: dict[int, np.ndarray], predicted: set[int]) -> dict:
    """The campaign's figures from the masks posted: work[task] = [(e-mail, annotation, mask, lead time)] with the
    latest-updated last. Consensus is the pixel majority (two annotators: the latest one's mask where they differ)."""
    pre = {}
    per = defaultdict(lambda: defaultdict(list))
    pairs = defaultdict(list)
    for task, done in work.items():
        masks = [m for _, _, m, _ in done]
        fused = np.where(masks[0] == masks[1], masks[0], masks[-1]) if len(masks) == 2 else \
            (np.sum(masks, axis=0) >= 2).astype(np.uint8) if len(masks) == 3 else None
        for email, _, mask, lead in done:
            per[email]["done"].append(task)
            per[email]["lead"].append(lead)
            if fused is not None:
                per[email]["consensus"].append(_iou(mask, fused))
            if task in predicted:
                pre.setdefault(task, _box(mask.shape, PRE))
                per[email]["edit"].append(1 - _iou(mask, pre[task]))
            if task in truth:
                per[email]["gold"].append(_iou(mask, truth[task]))
        for i in range(len(done)):
            for j in range(i + 1, len(done)):
                pairs[frozenset((done[i][0], done[j][0]))].append(_iou(done[i][2], done[j][2]))
    return {"per": per, "pairs": {k: float(np.mean(v)) for k, v in pairs.items()},
            "held": sorted(t for t, d in work.items() if len(d) > 1
                           and np.mean([_iou(a[2], b[2]) for i, a in enumerate(d) for b in d[i + 1:]]) < 0.6)}


def _mean(values: list[float]):
    return pytest.approx(float(np.mean(values))) if values else None


def _check(figures: dict, want: dict, rejected: dict[str, int] | None = None, reworked: dict | None = None) -> None:
    rejected, reworked = rejected or {}, reworked or {}
    got = {f["annotator"]: f for f in figures["annotators"]}
    assert list(got) == list(TEAM)
    for email in TEAM:
        f, w = got[email], want["per"][email]
        assert f["assigned"] == 3 and f["done"] == len(w["done"]) - rejected.get(email, 0), (email, f)
        assert f["median_lead_time_s"] == pytest.approx(median(w["lead"]))
        assert f["consensus_iou"] == _mean(w["consensus"]) and f["edit_cost"] == _mean(w["edit"]), (email, f)
        assert f["gold_iou"] == {"grain": _mean(w["gold"])}
        assert (f["rejected"], f["reworked"]) == (rejected.get(email, 0), reworked.get(email, 0))
    names = figures["names"]
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            assert figures["pairwise"][i][j] == (None if a == b else pytest.approx(want["pairs"][frozenset((a, b))]))
    assert [t for t, _ in figures["held"]] == want["held"]
    assert list(figures["violations"]) == []  # the reviewers' verdicts are not edits by someone else
    assert all(why.startswith("held for review: agreement") for _, why in figures["held"])
    assert sum(n for _, n in figures["progress"]) == figures["submitted"] == sum(len(w["done"]) for w in
                                                                                 want["per"].values())


def test_review_consensus_and_campaign_status(tmp_path, sample, server, prefect_api):
    cfg, loop, project_id = demo_setup(tmp_path / f"review-{uuid.uuid4().hex[:6]}", sample, server)
    with Connection.open(server.settings) as conn:
        SimulatedAnnotator(cfg.truth, loop.schema).annotate(conn, project_id, 3)
    sync_annotations(loop)
    assert version_dataset(loop).version.tag == "dataset-v1"
    push_scores(server, loop, project_id, box=PRE)
    config = save_loop_config(loop, tmp_path / "loop.json")
    cli = CliRunner()

    def run(*args: str) -> str:
        result = cli.invoke(app, [*args, "--loop" if args[0] == "campaign" else "--config", str(config)],
                            catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    run("config", "set", "labeling.policy", "majority")
    run("config", "set", "labeling.min_agreement", "0.6")
    loop = load_loop_config(config)
    assert (loop.labeling.policy, loop.labeling.min_agreement) == ("majority", 0.6)
    run("campaign", "plan", "--tasks-each", "2", "--overlap-share", "0.5", "--gold", "1", "--name", "c2",
        "--reviewer", REVIEWER, *[x for e in TEAM for x in ("--annotator", e)])
    folder = campaigns_dir(loop) / "c2"
    plan, accounts = load_plan(folder), read_accounts(folder / ACCOUNTS_FILE)
    assert set(accounts) == {*TEAM, REVIEWER} and all(a.token for a in accounts.values())
    low, high = sorted(t.id for t in plan.tasks if t.overlap == 2)
    (gold,) = plan.gold_ids
    role = {t.id: "single" for t in plan.tasks} | {low: "low", high: "high", gold: "gold"}
    predicted = {tid for tid, t in tasks_of(server, project_id).items() if t.get("predictions")}
    prediction = {tid: t["predictions"][0]["id"] for tid, t in tasks_of(server, project_id).items() if tid in predicted}
    seen: dict[int, int] = defaultdict(int)

    def draw(email, task):
        seen[task["id"]] += 1
        return _box((task["data"]["height"], task["data"]["width"]), BOXES[role[task["id"]]][seen[task["id"]] - 1])

    posted: list = []

    def extra(email, task):
        parent = {"parent_prediction": prediction[task["id"]]} if task["id"] in prediction else {}
        return {"lead_time": float(len(posted) + 1), **parent}

    label_until_empty(server, project_id, {e: accounts[e].token for e in TEAM}, loop.schema, draw, extra, posted)
    assert len(posted) == 4 + 2 + 3  # 2 single tasks, 2 overlap tasks at 2, gold at 3
    work: dict[int, list] = defaultdict(list)
    for email, task, made, mask in posted:
        work[task].append([email, made["id"], mask, float(made["lead_time"])])
    v1 = checkout_version(loop.versions, "dataset-v1", tmp_path / "v1")
    truth = {g.task_id: (read_mask(v1 / g.mask) == 1).astype(np.uint8) for g in plan.gold}
    want = _expected(work, truth, predicted)
    assert want["held"] == [low]

    first = json.loads(run("campaign", "status", "--name", "c2", "--json"))  # logged to MLflow with dataset-v1
    _check(first, want)
    assert all(f["edit_cost"] and f["consensus_iou"] and f["gold_iou"]["grain"] for f in first["annotators"])
    assert {p.rsplit("/", 1)[-1] for p in first["report"]} == {"status.png", "status.html", "status.json"}
    assert all((folder / name).is_file() for name in ("status.png", "status.html", "status.json"))
    tags = client(loop.tracking).get_run(first["mlflow_run"]).data.tags
    assert (tags[TAG_KIND], tags[TAG_DATASET], first["dataset"]) == (KIND_CAMPAIGN, "dataset-v1", "dataset-v1")

    sync_annotations(loop)  # the held task sends no mask; the agreeing one sends its consensus
    rows = {r.ls_task_id: r for r in read_manifest(loop.versions.data_dir)}
    assert high in rows and low not in rows and gold not in rows

    author, redone = work[low][1][0], work[low][1][1]
    out = run("campaign", "review", "--annotation", str(redone), "--reject", "--comment", "grains missed",
              "--as", REVIEWER, "--name", "c2")
    assert f"rejected by {REVIEWER}" in out
    with Connection.open(server.settings) as conn:
        annotation = conn.request("GET", f"/api/annotations/{redone}/")
        meta = conn.request("GET", f"/api/tasks/{low}/")["meta"]["grainloop_reviews"][str(redone)]
    assert annotation["last_action"] == "rejected" and annotation["updated_by"] == accounts[REVIEWER].user_id
    assert (meta["verdict"], meta["comment"], meta["reviewer"]) == ("rejected", "grains missed", REVIEWER)
    after = campaign_report(loop, "c2", log=False).status.to_dict()
    alone = _expected({**work, low: work[low][:1]}, truth, predicted)  # the rejected annotation is out of the
    for email in TEAM:  # pull (one annotation left: nothing held), not out of the submissions
        alone["per"][email].update({k: want["per"][email][k] for k in ("done", "lead")})
    assert alone["held"] == []
    _check(after, alone, rejected={author: 1})

    with user_client(server, accounts[author].token) as own:  # the annotator redraws it with its own token
        answer = own.patch(f"/api/annotations/{redone}/",
                           json={"result": brush_results(_box(work[low][1][2].shape, REDO), loop.schema)})
        assert answer.status_code == 200 and answer.json()["updated_by"] == accounts[author].user_id
    work[low][1][2] = _box(work[low][1][2].shape, REDO)
    want = _expected(work, truth, predicted)
    assert want["held"] == []
    _check(campaign_report(loop, "c2", log=False).status.to_dict(), want, reworked={author: 1})
    verdict = review_annotation(loop, redone, True, "fixed", "c2", REVIEWER)
    assert (verdict.verdict, verdict.reviewer) == ("accepted", REVIEWER)
    single = next(a for t, done in work.items() if role[t] == "single" for _, a, _, _ in done)
    assert "accepted by " in run("campaign", "review", "--annotation", str(single), "--accept", "--name", "c2")
    refused = cli.invoke(app, ["campaign", "review", "--annotation", str(single), "--reject", "--as", "x@lab.test",
                               "--name", "c2", "--loop", str(config)])
    assert refused.exit_code == 1 and "no API token for 'x@lab.test'" in refused.output
    assert not any(a.token in refused.output + out for a in accounts.values())

    sync_annotations(loop)
    assert version_dataset(loop).version.tag == "dataset-v2"
    rows = {r.ls_task_id: r for r in read_manifest(loop.versions.data_dir)}
    assert gold not in rows and {low, high} <= set(rows)
    for task in (low, high):  # the consensus mask and its agreement, as computed here
        masks = [m for _, _, m, _ in work[task]]
        fused = np.where(masks[0] == masks[1], masks[0], masks[1])
        assert np.array_equal(read_mask(loop.versions.data_dir / rows[task].mask), fused)
        assert rows[task].agreement == pytest.approx(_iou(*masks))
        assert set(rows[task].annotators) == {e for e, *_ in work[task]} and rows[task].policy == "majority"
    last = campaign_report(loop, "c2")
    assert last.dataset == "dataset-v2" and client(loop.tracking).get_run(last.run_id).data.tags[TAG_DATASET] == \
        "dataset-v2"
    _check(last.status.to_dict(), want)
