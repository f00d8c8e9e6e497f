"""What an annotator sees, in a real (headless) Chromium against the session's real Label Studio: the task list
ordered by the active-learning priority (highest first) with Label Studio's "Prediction score" column showing the
champion's confidence (1 - priority, labeling/priority.py: lowest first), and the champion's pre-annotation
regions in the editor.

Chromium is Debian's package (bin/test finds or installs it with scripts/browser.sh and passes its path in
GRAINLOOP_CHROMIUM); Playwright cannot download browsers here. Without a browser or Playwright the test skips,
but fails under CI=true. Screenshots go to runs/test-artifacts/browser/ (git-ignored).
"""
from __future__ import annotations

import os
import secrets
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from labeling.priority import to_score
from labeling.push import MaskPrediction, PushConfig, order_by_score, push_predictions
from labeling.users import ensure_user
from tests.integration.helpers import imported_project, task_shape

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[2] / "runs" / "test-artifacts" / "browser"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
MODEL_VERSION = "champion-v1"


def _unavailable(why: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser test cannot run under CI: {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Chromium's path; checked before the server starts, so a skip costs nothing."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("playwright is not installed in the project's environment")
    path = os.environ.get("GRAINLOOP_CHROMIUM") or shutil.which("chromium")
    if not path or not os.access(path, os.X_OK):
        _unavailable("no Chromium: run scripts/browser.sh (bin/test does) or set GRAINLOOP_CHROMIUM")
    return path


def _grains(shape: tuple[int, int], n: int) -> np.ndarray:
    """n separate square grains on a diagonal."""
    mask = np.zeros(shape, np.uint8)
    for k in range(n):
        y, x = 6 + k * (shape[0] - 16) // n, 6 + k * (shape[1] - 16) // n
        mask[y:y + 10, x:x + 10] = 1
    return mask


@dataclass
class Seen:
    rows: list[tuple[float, int, str]] = field(default_factory=list)  # (screen y, task id, row text)
    regions: dict[int, int] = field(default_factory=dict)  # task id -> outliner entries in the prediction's tab
    shots: dict[str, Path] = field(default_factory=dict)
    error: str = ""


def _browse(chromium: str, url: str, email: str, password: str, project_id: int, view: int,
            open_tasks: list[int]) -> Seen:
    """Log in as the annotator, read the score-ordered list, open tasks; take a screenshot at each step."""
    from playwright.sync_api import Error, sync_playwright

    seen = Seen()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    prefix = f"project{project_id}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(20_000)

        def shot(name: str) -> Path:
            seen.shots[name] = ARTIFACTS / f"{prefix}-{name}.png"
            page.screenshot(path=str(seen.shots[name]))
            return seen.shots[name]

        try:
            page.goto(f"{url}/user/login/")
            page.fill("input[name=email]", email)
            page.fill("input[name=password]", password)
            page.click("button[type=submit]")
            page.wait_for_url(lambda u: "/user/login" not in u)
            page.goto(f"{url}/projects/{project_id}/data?tab={view}")
            rows = page.locator("[data-testid=table-row]")
            rows.first.wait_for()
            shot("task-list")
            for row in rows.all():
                label = row.locator("input[type=checkbox]").get_attribute("aria-label") or ""  # "Select Task 7"
                seen.rows.append((row.bounding_box()["y"], int(label.rsplit(" ", 1)[-1]), row.inner_text()))
            seen.rows.sort()
            for task_id in open_tasks:
                page.goto(f"{url}/projects/{project_id}/data?tab={view}&task={task_id}")
                tab = page.locator(".lsf-annotation-button").filter(
                    has=page.locator(".lsf-annotation-button__name", has_text=MODEL_VERSION))
                tab.first.click()
                items = page.locator(".lsf-outliner .lsf-outliner-item")
                items.first.wait_for()
                seen.regions[task_id] = items.count()
                shot(f"task{task_id}")
        except Error as e:  # a time-out or a vanished element: keep what was seen, and a picture of the moment
            seen.error = f"{type(e).__name__}: {str(e).splitlines()[0]}"
            shot("failure")
        finally:
            browser.close()
    return seen


def test_annotator_sees_tasks_by_score_and_the_champions_regions(chromium, server, conn, docroot):
    project, tasks, _ = imported_project(conn, docroot, 3, size=(96, 128))
    scores = dict(zip((t["id"] for t in tasks), (0.31, 0.92, 0.64)))
    grains = dict(zip((t["id"] for t in tasks), (2, 4, 3)))
    polygon_tasks = [t for t in tasks if scores[t["id"]] > 0.5]
    brush_tasks = [t for t in tasks if scores[t["id"]] < 0.5]
    for group, polygon_above in ((polygon_tasks, 1), (brush_tasks, 50)):  # polygons: one per grain; brush: one
        push_predictions(conn, project, PushConfig(MODEL_VERSION, polygon_above=polygon_above),
                         [MaskPrediction(t["id"], _grains(task_shape(t), grains[t["id"]]), scores[t["id"]])
                          for t in group])
    assert conn.sdk.projects.get(project.id).model_version == MODEL_VERSION
    predicted = {t: conn.request("GET", "/api/predictions/", params={"task": t}) for t in scores}
    expected_regions = {t: len(p[0]["result"]) for t, p in predicted.items()}
    kinds = {r["type"] for p in predicted.values() for r in p[0]["result"]}
    assert kinds == {"polygonlabels", "brushlabels"} and sorted(expected_regions.values()) == [1, 3, 4]
    view = order_by_score(conn, project.id)

    email, password = f"annotator-{uuid.uuid4().hex[:8]}@grainloop.test", secrets.token_urlsafe(16)
    ensure_user(conn, email, password, first_name="Browser", last_name="Annotator")
    top, low = max(scores, key=scores.get), min(scores, key=scores.get)
    with ThreadPoolExecutor(max_workers=1) as pool:  # the sync API refuses a thread with a running event loop
        seen = pool.submit(_browse, chromium, server.settings.url, email, password, project.id, view,
                           [top, low]).result()

    pictures = ", ".join(str(p) for p in seen.shots.values()) or "none taken"
    assert not seen.error, f"the browser stopped: {seen.error}; screenshots: {pictures}"
    on_screen = [task for _, task, _ in seen.rows]
    by_score = sorted(scores, key=scores.get, reverse=True)
    assert on_screen == by_score, f"list order {on_screen}, priorities say {by_score}; see {seen.shots['task-list']}"
    for _, task, text in seen.rows:  # the column shows Label Studio's score: the confidence, lowest first
        assert f"{to_score(scores[task]):.3f}" in text.split(), \
            f"task {task}'s score {to_score(scores[task]):.3f} not shown; see {seen.shots['task-list']}"
    for task in (top, low):
        assert seen.regions[task] == expected_regions[task], (
            f"task {task}: the editor lists {seen.regions[task]} regions, the prediction has "
            f"{expected_regions[task]}; see {seen.shots[f'task{task}']}")
