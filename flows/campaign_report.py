"""A campaign's status as tables (``sections``: the terminal screen and the HTML page both show them) and as a
report in the campaign's folder: status.png (tasks done per annotator, their quality figures, the pairwise
agreement matrix as a heatmap, submissions over time), status.html (self-contained: the tables and that PNG) and
status.json. Drawn with the loop status report's helpers (flows/status_report.py)."""
from __future__ import annotations

import json
from pathlib import Path

from flows.status_report import Section, bars, html_page, png_bytes, text, unavailable
from foundation.atomic import write_atomic
from labeling.campaign_status import CampaignStatus

PNG, HTML, JSON = "status.png", "status.html", "status.json"
QUALITY = (("agreement with consensus", "consensus_iou"), ("gold IoU", "gold_mean"), ("edit cost", "edit_cost"))


def _gold(per_class: dict[str, float | None]) -> str:
    return ", ".join(f"{name} {text(v, 3)}" for name, v in per_class.items()) or "-"


def sections(status: CampaignStatus) -> list[Section]:
    people = tuple((f.annotator, f"{f.done} / {f.assigned}", text(f.median_lead_time_s, 1), text(f.consensus_iou, 3),
                    _gold(f.gold_iou), text(f.edit_cost, 3), text(f.rejected), text(f.reworked))
                   for f in status.annotators)
    running, progress = 0, []
    for when, n in status.progress:
        running += n
        progress.append((when, text(n), text(running)))
    matrix = tuple((name, *(text(v, 3) for v in row)) for name, row in zip(status.names, status.pairwise))
    closed = f" (closed {status.closed_at})" if status.closed_at else ""
    checks = tuple((v.kind, text(v.task_id), text(v.annotation_id), v.who or "-", v.detail) for v in status.violations)
    return [
        Section(f"Campaign {status.name}{closed}: {status.submitted} of {status.asked} annotations asked, "
                f"{status.tasks} tasks",
                ("annotator", "done / assigned", "median lead time (s)", "agreement with consensus (IoU)",
                 "gold IoU per class", "edit cost", "rejected", "reworked"), people,
                "" if people else "no annotator yet"),
        Section("Held for review (annotators disagree)", ("task", "reason"),
                tuple((text(t), why) for t, why in status.held), f"{len(status.held)} waiting"),
        Section("Progress (UTC)", ("time", "submitted", "in all"), tuple(progress),
                "" if progress else "no submission yet"),
        Section("Pairwise agreement (mean IoU of two annotators' masks of the same task)", ("", *status.names),
                matrix if any(v is not None for row in status.pairwise for v in row) else (),
                "" if any(v is not None for row in status.pairwise for v in row) else "no task with two annotators "
                                                                                    "yet"),
        Section("Plan checks (Label Studio Community enforces none of them)",
                ("violation", "task", "annotation", "who", "detail"), checks,
                f"{len(checks)} violation(s)" if checks else "no violation"),
    ]


def _quality(ax, status: CampaignStatus) -> None:
    import numpy as np

    rows = [f.__dict__ | {"gold_mean": f.gold_mean} for f in status.annotators]
    x = np.arange(len(rows))
    width = 0.8 / len(QUALITY)
    for i, (label, key) in enumerate(QUALITY):
        ax.bar(x + i * width, [r[key] if r[key] is not None else 0.0 for r in rows], width, label=label)
    ax.set_xticks(x + width, [r["annotator"] for r in rows], rotation=20, fontsize=7)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    ax.set_title("quality per annotator", fontsize=10)


def _heatmap(ax, status: CampaignStatus) -> None:
    import numpy as np

    values = np.array([[np.nan if v is None else v for v in row] for row in status.pairwise], float)
    image = ax.imshow(values, vmin=0, vmax=1, cmap="viridis")
    ax.figure.colorbar(image, ax=ax, fraction=0.046)
    ax.set_xticks(range(len(status.names)), status.names, rotation=30, fontsize=7, ha="right")
    ax.set_yticks(range(len(status.names)), status.names, fontsize=7)
    for (i, j), v in np.ndenumerate(values):
        if not np.isnan(v):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="w")
    ax.set_title("pairwise agreement (IoU)", fontsize=10)


def plot(status: CampaignStatus) -> bytes:
    """The PNG: tasks done per annotator, quality per annotator, the pairwise matrix, submissions over time."""
    from ml.report import pyplot

    plt = pyplot()
    fig, (done, quality, matrix, over_time) = plt.subplots(1, 4, figsize=(18, 4))
    if status.annotators:
        bars(done, [f.annotator for f in status.annotators], [f.done for f in status.annotators],
             "tasks done (of assigned)", horizontal=True)
        done.barh([f.annotator for f in status.annotators], [f.assigned for f in status.annotators], fill=False,
                  edgecolor="gray")
        _quality(quality, status)
        _heatmap(matrix, status)
    else:
        for ax, title in ((done, "tasks done"), (quality, "quality"), (matrix, "pairwise agreement")):
            unavailable(ax, title, "no annotator yet")
    if status.progress:
        labels = [when for when, _ in status.progress]
        bars(over_time, labels, [n for _, n in status.progress], "annotations submitted (UTC)")
    else:
        unavailable(over_time, "progress", "no submission yet")
    return png_bytes(plt, fig)


def write_report(status: CampaignStatus, folder: Path) -> tuple[Path, Path, Path]:
    """status.png, status.html and status.json in the campaign's folder, each written atomically."""
    png = plot(status)
    page = html_page(f"grainloop campaign {status.name}", f"{status.submitted} of {status.asked} annotations",
                     png, sections(status))
    return (write_atomic(Path(folder) / PNG, png), write_atomic(Path(folder) / HTML, page),
            write_atomic(Path(folder) / JSON, json.dumps(status.to_dict(), indent=1)))
