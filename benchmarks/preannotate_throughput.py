"""`preannotate` (the flow the cycle runs) on N unannotated tasks, against raw inference plus one raw bulk push of
the same masks, in one run. Prints the throughput ratio raw / flow (goal >= 0.8).

The flow: champion checkpoint from MLflow, task listing, prediction in Prefect tasks (entropy scoring), ranking,
brush-RLE encoding, bulk push with the replace check, project model_version, score ordering, ranking record.
Raw: read, preprocess (the same one), one forward pass and argmax per image, the same payload, and one
`import_predictions` of the whole payload into a second project holding the same tasks.

    bin/bench preannotate_throughput [--tasks 500] [--size 256] [--settings .grainloop/labelstudio.json]
        [--prefect-api http://127.0.0.1:4200/api] [--smoke]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


SMOKE = {"tasks": 4, "size": 128, "train_epochs": 1, "threads": 1}


def arguments(argv=None) -> argparse.Namespace:
    from benchmarks._cli import parse_args

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--size", type=int, default=256, help="side of the square synthetic images")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-epochs", type=int, default=3, help="epochs of the small model that predicts")
    parser.add_argument("--settings", type=Path,
                        help="reuse this server (settings file; its work folder goes under the server's document "
                             "root); default: start one")
    parser.add_argument("--prefect-api", help="run the flows on this Prefect API; default: a temporary server")
    return parse_args(parser, SMOKE, argv)


def prefect_api(url: str | None):
    """The Prefect API at url for the flows of this run, or a temporary server and database."""
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    if url:
        return temporary_settings({PREFECT_API_URL: url})
    return prefect_test_harness(server_startup_timeout=120)


def sample(root: Path, n: int, size: int, epochs: int = 3) -> tuple[Path, Path]:
    """n synthetic images for the tasks, and a small trained model (so masks look like grains, not noise)."""
    from ml import runs
    from ml.train_options import train_config
    from foundation.schema import binary_schema
    from ml.synthetic import SyntheticConfig, write_dataset

    write_dataset(root / "tasks", n, SyntheticConfig(height=size, width=size), seed=1)
    write_dataset(root / "train", 8, SyntheticConfig(height=size, width=size), seed=2)
    cfg = train_config(decoder_channels=(64, 32, 16, 16, 16), epochs=epochs, restart_epochs=epochs, patch=128,
                            patches_per_epoch=48, batch_size=8, lr=3e-3)
    spec = runs.TrainSpec([root / "train" / "images"], root / "train" / "masks", "class", binary_schema())
    return root / "tasks" / "images", runs.run_training(spec, cfg, root / "model").model_path


def loop(root: Path, settings_file: Path, images: Path, title: str, document_root: Path | None = None):
    from flows.loop_config import LabelingTarget, LoopConfig
    from flows.tracking import TrackingConfig
    from ml.train_options import train_config
    from foundation.schema import binary_schema

    target = LabelingTarget(settings_file, title, images, document_root or root)
    return LoopConfig(root / "workspace", target, binary_schema(), TrackingConfig.for_project(root / "workspace"),
                      train_config(), strategy="entropy")


def crown(cfg, model_file: Path) -> None:
    from flows.registry import log_trained
    from flows.tracking import CHAMPION, client

    version = log_trained(cfg.tracking, model_file, cfg.train, {}).version
    client(cfg.tracking).set_registered_model_alias(cfg.tracking.model_name, CHAMPION, version)


def raw_push(conn, project, model_file: Path, images: Path, tasks: list[dict]) -> dict[str, float]:
    """Seconds of read + preprocess + forward + argmax, of encoding the same payload the flow sends (brush RLE, or
    polygons for many grains), and of one bulk import."""
    import numpy as np
    import torch

    from labeling.push import MaskPrediction, PushConfig, payload
    from ml.checkpoint import load_model
    from ml.io import read_channels
    from ml.preprocess import apply, fit

    model, artifact = load_model(model_file)
    t0 = time.perf_counter()
    items = []
    with torch.inference_mode():
        for t in tasks:
            image = read_channels([images / t["data"]["source"]])
            x = torch.from_numpy(apply(image, fit(image, artifact.preprocess))[None])
            items.append(MaskPrediction(t["id"], model(x).argmax(1)[0].numpy().astype(np.uint8), 0.5))
    t1 = time.perf_counter()
    body = payload(items, project, PushConfig("raw"))
    t2 = time.perf_counter()
    conn.sdk.projects.import_predictions(project.id, request=body)
    t3 = time.perf_counter()
    return {"inference": t1 - t0, "encode": t2 - t1, "push": t3 - t2, "total": t3 - t0}


def main(argv=None) -> None:
    args = arguments(argv)
    import torch

    torch.set_num_threads(args.threads)
    from benchmarks._labeling_setup import server
    from flows.preannotate import preannotate
    from labeling.api import Connection, iter_tasks
    from labeling.importer import ImportConfig, import_folder
    from labeling.projects import ProjectSpec, ensure_project
    from labeling.settings import save_settings

    with server(args.settings) as settings, tempfile.TemporaryDirectory(dir=settings.document_root) as tmp, \
            prefect_api(args.prefect_api):
        root, docroot = Path(tmp), Path(settings.document_root)
        images, model_file = sample(root, args.tasks, args.size, args.train_epochs)
        settings_file = root / "labelstudio.json"
        save_settings(settings, settings_file)
        cfg = loop(root, settings_file, images, f"bench preannotate {uuid.uuid4().hex[:6]}", docroot)
        crown(cfg, model_file)
        with Connection.open(settings) as conn:
            ours = ensure_project(conn.sdk, ProjectSpec(cfg.labeling.project_title, cfg.schema))
            raw = ensure_project(conn.sdk, ProjectSpec(cfg.labeling.project_title + " raw", cfg.schema))
            for project in (ours, raw):
                import_folder(conn, project, ImportConfig(images, docroot))
            raw_tasks = list(iter_tasks(conn, raw.id, page_size=1000))
            before = raw_push(conn, raw, model_file, images, raw_tasks)
            t0 = time.perf_counter()
            report = preannotate(cfg)
            flow_s = time.perf_counter() - t0
            after = raw_push(conn, raw, model_file, images, raw_tasks)  # raw on both sides of the flow: load drifts
        raw_s = {k: (before[k] + after[k]) / 2 for k in before}
        t0 = time.perf_counter()
        again = preannotate(cfg)
        rerun_s = time.perf_counter() - t0
    n = len(raw_tasks)
    print(f"tasks {n}, images {args.size}x{args.size}, model Unet-resnet18 (light decoder), {args.threads} threads")
    print(f"raw before the flow {before['total']:.1f} s, after it {after['total']:.1f} s; their mean:")
    print(f"raw inference + one bulk push: {raw_s['total']:.1f} s ({n / raw_s['total']:.2f} tasks/s): inference "
          f"{raw_s['inference']:.1f} s, encoding {raw_s['encode']:.1f} s, one import {raw_s['push']:.1f} s")
    print(f"preannotate flow: {flow_s:.1f} s ({report.tasks / flow_s:.2f} tasks/s), created {report.created}")
    print(f"ratio flow/raw throughput: {raw_s['total'] / flow_s:.2f} (goal >= 0.8)")
    print(f"rerun with the same champion: {rerun_s:.1f} s, {again.tasks} tasks ({again.skipped})")


if __name__ == "__main__":
    main()
