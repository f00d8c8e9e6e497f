"""Pull of N annotated tasks (1024x768 brush masks) into mask files + provenance, against the raw SDK
list-and-decode of the same tasks in the same run. Prints the throughput ratio (goal >= 0.8).

    bin/bench labeling_pull [--tasks 1000] [--settings .grainloop/labelstudio.json] [--smoke]
"""
from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path

from label_studio_sdk.converter.brush import decode_rle

from benchmarks._labeling_setup import arguments, grain_masks, server
from foundation.schema import binary_schema
from labeling.api import Connection
from labeling.projects import ProjectSpec, ensure_project
from labeling.pull import PullConfig, pull
from labeling.regions import brush_results


def seed_project(conn: Connection, n: int, height: int, width: int):
    project = ensure_project(conn.sdk, ProjectSpec(f"bench pull {uuid.uuid4().hex[:6]}", binary_schema()))
    results = [brush_results(m, project.schema) for m in grain_masks(20, height, width)]
    tasks = [{"data": {"image": f"/data/local-files/?d=bench/{i}.png", "source": f"bench/{i:05d}.png",
                       "height": height, "width": width, "key": str(i)},
              "annotations": [{"result": results[i % len(results)]}]} for i in range(n)]
    for start in range(0, n, 250):
        conn.sdk.projects.import_tasks(project.id, request=tasks[start:start + 250])
    return project


def raw_list_and_decode(conn: Connection, project_id: int) -> int:
    decoded = 0
    for task in conn.sdk.tasks.list(project=project_id, fields="all", page_size=100):
        for annotation in task.annotations:
            for result in annotation["result"]:
                decode_rle(result["value"]["rle"])
                decoded += 1
    return decoded


def main(argv=None) -> None:
    args = arguments(__doc__, argv)
    with server(args.settings) as settings, Connection.open(settings) as conn, tempfile.TemporaryDirectory() as out:
        project = seed_project(conn, args.tasks, args.height, args.width)
        t0 = time.perf_counter()
        decoded = raw_list_and_decode(conn, project.id)
        raw = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = pull(conn, project, PullConfig(out=Path(out), page_size=100))
        ours = time.perf_counter() - t0
        masks = len(list(Path(out, "masks").rglob("*.png")))
    print(f"tasks {args.tasks}, masks {args.height}x{args.width}, decoded regions (raw) {decoded}")
    print(f"raw SDK list+decode: {raw:.2f} s ({args.tasks / raw:.1f} tasks/s)")
    print(f"grainloop pull -> {masks} mask files + {report.provenance_rows} provenance rows: {ours:.2f} s "
          f"({args.tasks / ours:.1f} tasks/s)")
    print(f"ratio pull/raw throughput: {raw / ours:.2f} (goal >= 0.8)")


if __name__ == "__main__":
    main()
