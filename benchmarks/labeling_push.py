"""Push of N predictions (1024x768 masks, brush RLE) with grainloop, against one raw bulk import of the same
payload in the same run. Prints the throughput ratio (goal >= 0.8). Encoding masks to RLE is timed apart:
it is the same work for any client.

    bin/bench labeling_push [--tasks 1000] [--settings .grainloop/labelstudio.json] [--smoke]
"""
from __future__ import annotations

import time
import uuid

from benchmarks._labeling_setup import arguments, grain_masks, server
from foundation.schema import binary_schema
from labeling.api import Connection
from labeling.projects import ProjectSpec, ensure_project
from labeling.push import MaskPrediction, PushConfig, payload, push_predictions
from labeling.regions import brush_results


def project_with_tasks(conn: Connection, n: int):
    project = ensure_project(conn.sdk, ProjectSpec(f"bench push {uuid.uuid4().hex[:6]}", binary_schema()))
    tasks = [{"data": {"image": f"/data/local-files/?d=bench/{i}.png", "key": str(i)}} for i in range(n)]
    answer = conn.sdk.projects.import_tasks(project.id, request=tasks, return_task_ids=True)
    return project, list(answer.task_ids)


def main(argv=None) -> None:
    args = arguments(__doc__, argv)
    masks = grain_masks(20, args.height, args.width)
    with server(args.settings) as settings, Connection.open(settings) as conn:
        raw_project, raw_ids = project_with_tasks(conn, args.tasks)
        our_project, our_ids = project_with_tasks(conn, args.tasks)
        t0 = time.perf_counter()
        encoded = [brush_results(masks[i % len(masks)], raw_project.schema) for i in range(len(masks))]
        encode = time.perf_counter() - t0
        body = [{"task": t, "model_version": "raw", "score": 0.5, "result": encoded[i % len(encoded)]}
                for i, t in enumerate(raw_ids)]
        t0 = time.perf_counter()
        conn.sdk.projects.import_predictions(raw_project.id, request=body)
        raw = time.perf_counter() - t0
        items = [MaskPrediction(t, masks[i % len(masks)], 0.5) for i, t in enumerate(our_ids)]
        prepared = payload(items[:len(masks)], our_project, PushConfig("ours"))  # warm, and the encode cost
        t0 = time.perf_counter()
        report = push_predictions(conn, our_project, PushConfig("ours", polygon_above=-1), items)
        ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = push_predictions(conn, our_project, PushConfig("ours", polygon_above=-1), items)
        rerun = time.perf_counter() - t0
        count = len(conn.sdk.predictions.list(project=our_project.id))
    print(f"predictions {args.tasks}, masks {args.height}x{args.width}; RLE encode of {len(masks)} masks "
          f"{encode:.2f} s ({len(prepared)} prepared)")
    print(f"raw bulk import (payload prebuilt): {raw:.2f} s ({args.tasks / raw:.1f} predictions/s)")
    print(f"grainloop push incl. encoding, replace check, project version: {ours:.2f} s ({report.created} created)")
    print(f"ratio push/raw throughput: {raw / ours:.2f} (goal >= 0.8)")
    print(f"re-push of the same version: {rerun:.2f} s, replaced {again.replaced}, predictions on server {count}")


if __name__ == "__main__":
    main()
