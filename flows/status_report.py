"""The loop's status as tables (``sections``: what the terminal screen and the HTML page both show) and as a
report: a PNG of tasks by state, annotators and the champion's test IoU per dataset version, and a self-contained
HTML page holding the tables and that PNG (base64), so it can be mailed or logged to MLflow as one file."""
from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path

from flows.status_types import LoopStatus
from flows.tracking import SCORE, SIZE_ERROR
from foundation.atomic import write_atomic

PNG, HTML = "status.png", "status.html"
HEADLINE = (SCORE, "grains/f1", "grains/pq", "grains/count_rel_error", SIZE_ERROR)  # the screen's test metrics


@dataclass(frozen=True)
class Section:
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...] = ()
    note: str = ""  # "unavailable: why", or what an empty table means


def text(value, digits: int = 4) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def size_text(n) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


EDIT_ROWS = 10  # cycles shown in the edit cost section (cycles.json keeps them all)


def _note(unavailable, empty: str = "") -> str:
    return f"unavailable: {unavailable}" if unavailable else empty


def sections(status: LoopStatus, all_metrics: bool = False) -> list[Section]:
    lab, quarantine, data, champ = status.labeling, status.quarantine, status.datasets, status.champion
    record, schedule = status.last_cycle.record, status.schedule
    tasks = () if lab.unavailable else (
        ("tasks", text(lab.total)), ("annotated", text(lab.annotated)), ("in progress (draft)", text(lab.in_progress)),
        ("skipped", text(lab.skipped)), ("not started", text(lab.not_started)),
        (f"not annotated, with the champion's predictions ({lab.champion_model_version or 'no champion'})",
         text(lab.with_champion_predictions)))
    metrics = {k: v for k, v in champ.test_metrics.items()
               if all_metrics or k in HEADLINE or k.startswith("iou/")}
    champion = () if champ.unavailable else (
        ("model", f"{champ.model_name} version {champ.version}"), ("test split of", text(champ.evaluated_on)),
        *((k, text(v)) for k, v in sorted(metrics.items(), key=lambda kv: (kv[0] != SCORE, kv[0]))),
        *champ.lineage.items())
    cycle = () if record is None else (
        ("finished", record.finished_at), ("outcome", record.outcome), ("dataset", text(record.dataset)),
        ("trained", text(record.trained)), ("champion", text(record.champion)),
        ("synced / quarantined", f"{record.synced} / {record.quarantined}"),
        ("pre-annotated tasks", text(record.preannotated)),
        ("edit cost (share of the pre-annotation changed)", f"{text(record.edit_cost)} over {record.edited}"),
        *((f"s {step}", f"{s:.1f}") for step, s in record.seconds.items()))
    return [
        Section(f"Label Studio: {lab.project} {lab.url}".strip(), ("state", "tasks"), tasks, _note(lab.unavailable)),
        Section("Annotators", ("annotator", "submitted", "median lead time (s)"),
                tuple((a.name, text(a.submitted), text(a.median_lead_time_s, 1)) for a in lab.annotators),
                _note(lab.unavailable, "" if lab.annotators else "no submitted annotation yet")),
        Section("Quarantined annotations", ("task", "annotation", "source", "reason"),
                tuple((text(q.task_id), text(q.annotation_id), text(q.source), q.reason) for q in quarantine.entries),
                _note(quarantine.unavailable, f"{len(quarantine.entries)} standing ({quarantine.report})")),
        Section("Held for review (annotators disagree)", ("task", "source", "reason"),
                tuple((text(t), s, why) for t, s, why in quarantine.held),
                _note(quarantine.unavailable, f"{len(quarantine.held)} waiting: mark the right annotation as ground "
                                              "truth in Label Studio")),
        Section("Dataset versions", ("version", "images", "splits", "size", "champion test IoU"),
                tuple((v.tag, text(v.images), ", ".join(f"{k} {n}" for k, n in v.splits.items()) or "-",
                       size_text(v.size_bytes), text(v.champion_test_iou)) for v in data.versions),
                _note(data.unavailable, "" if data.versions else "no dataset version yet")),
        Section("Champion", ("", ""), champion, _note(champ.unavailable)),
        Section("Last cycle", ("", ""), cycle, _note(status.last_cycle.unavailable)),
        Section("Edit cost per cycle: how much of the model's pre-annotations annotators changed",
                ("finished", "dataset", "champion", "edit cost", "annotations"),
                tuple((r.finished_at, text(r.dataset), text(r.champion), text(r.edit_cost), text(r.edited))
                      for r in status.last_cycle.history[-EDIT_ROWS:] if r.edited),
                "" if any(r.edited for r in status.last_cycle.history) else
                "no synced annotation started from a pre-annotation yet"),
        Section("Scale bars awaiting confirmation (`grainloop scale confirm IMAGE|--all`)",
                ("image", "label", "um/px", "confidence"),
                tuple((image, label, f"{um:.5g}", text(c, 2)) for image, label, um, c in status.scales.awaiting),
                _note(status.scales.unavailable, ", ".join(f"{n} {k}" for k, n in status.scales.states.items())
                      or "no scale bar read (`grainloop scale detect`)")),
        Section("Next scheduled run", ("deployment", "next run"),
                () if schedule.unavailable or not schedule.next_run else ((schedule.deployment, schedule.next_run),),
                _note(schedule.unavailable, schedule.note)),
    ]


def bars(ax, labels, values, title: str, horizontal: bool = False) -> None:
    if horizontal:
        ax.barh(labels, values, color="tab:blue")
        ax.invert_yaxis()
    else:
        ax.bar(labels, values, color="tab:blue")
        ax.tick_params(axis="x", labelrotation=20)
    ax.set_title(title, fontsize=10)


def unavailable(ax, title: str, why: str) -> None:
    ax.set_title(title, fontsize=10)
    ax.text(0.5, 0.5, why[:80], ha="center", va="center", wrap=True, fontsize=8, transform=ax.transAxes)
    ax.set_axis_off()


def plot(status: LoopStatus) -> bytes:
    """The PNG: tasks by state, submitted annotations per annotator, the champion's test IoU per dataset version."""
    from ml.report import pyplot

    plt = pyplot()
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(13, 3.6))
    lab, champ = status.labeling, status.champion
    if lab.unavailable:
        unavailable(left, "tasks", lab.unavailable)
        unavailable(middle, "annotators", lab.unavailable)
    else:
        bars(left, ["annotated", "in progress", "skipped", "not started", "open, pre-annotated"],
              [lab.annotated, lab.in_progress, lab.skipped, lab.not_started, lab.with_champion_predictions],
              f"tasks ({lab.total})")
        bars(middle, [a.name for a in lab.annotators], [a.submitted for a in lab.annotators],
              "submitted annotations", horizontal=True)
    if champ.test_iou_by_dataset:
        right.plot(list(champ.test_iou_by_dataset), list(champ.test_iou_by_dataset.values()), "o-")
        right.set_ylim(0, 1)
        right.set_title(f"champion v{champ.version}: test {SCORE}", fontsize=10)
    else:
        unavailable(right, "champion test IoU", champ.unavailable or "no evaluation recorded")
    return png_bytes(plt, fig)


def png_bytes(plt, fig) -> bytes:
    """The figure as PNG bytes (laid out tight), closed afterwards."""
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def html_table(section: Section) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in section.columns)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in section.rows)
    note = f'<p class="note">{esc(section.note)}</p>' if section.note else ""
    table = f"<table><tr>{head}</tr>{body}</table>" if section.rows else ""
    return f"<h2>{esc(section.title)}</h2>{note}{table}"


STYLE = ("body{font-family:sans-serif;margin:2em;max-width:75em}table{border-collapse:collapse;margin-bottom:1em}"
         "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}.note{color:#555}img{max-width:100%}")


def html_page(title: str, intro: str, png: bytes, parts: list[Section]) -> str:
    """A self-contained page: the title, one line of text, the PNG (base64) and the sections as tables."""
    body = "".join(html_table(s) for s in parts)
    image = base64.b64encode(png).decode()
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p>{html.escape(intro)}</p>"
            f"<img alt=\"plots\" src=\"data:image/png;base64,{image}\">{body}</body></html>")


def page(status: LoopStatus, png: bytes) -> str:
    return html_page(f"grainloop status {status.collected_at}", f"workspace {status.workspace}", png,
                     sections(status, all_metrics=True))


def write_report(status: LoopStatus, out_dir: Path) -> tuple[Path, Path]:
    """status.png and status.html (self-contained: the PNG inside) in out_dir, each written atomically."""
    png = plot(status)
    return write_atomic(Path(out_dir) / PNG, png), write_atomic(Path(out_dir) / HTML, page(status, png))
