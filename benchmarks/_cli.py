"""The `--smoke` option shared by the Python benchmarks. Not a benchmark itself."""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def parse_args(parser: argparse.ArgumentParser, smoke: dict[str, Any],
               argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse argv; with --smoke, the `smoke` values replace the defaults (options given explicitly still win)."""
    tiny = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in smoke.items())
    parser.add_argument("--smoke", action="store_true",
                        help=f"a run of seconds that checks the benchmark works; its figures mean nothing ({tiny})")
    args = parser.parse_args(argv)
    if args.smoke:
        parser.set_defaults(**smoke)
        args = parser.parse_args(argv)
    return args


def add_run_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """--out (keep the runs) and --threads (torch threads), as the training benchmarks take them."""
    parser.add_argument("--out", type=Path, help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    return parser


def ints(text: str) -> tuple[int, ...]:
    """A comma-separated list of integers (an argparse type)."""
    return tuple(int(v) for v in str(text).split(","))


def emps_missing(emps: Path) -> bool:
    """True, after saying so, when ``emps`` is not laid out as EMPS (images/, segmaps/): the benchmark skips."""
    if (emps / "images").is_dir() and (emps / "segmaps").is_dir():
        return False
    print(f"no EMPS data at {emps} (images/ and segmaps/): skipped")
    return True


EMPS = Path(__file__).resolve().parents[2] / "shared" / "data" / "emps"  # ../shared/data/emps beside the checkout
HASHES = "sha256sums"  # in a copy of EMPS: its original images' hashes, which keep the split (benchmarks/_emps_copy.py)


def emps_digests(emps: Path) -> list[tuple[Any, str]]:
    """EMPS's samples (ml.data.SampleFiles, by name) with the sha256 their split goes by: the image file's, or the
    original image's where the folder records it in sha256sums (`sha256sum images/*` output)."""
    from foundation.digest import sha256_file
    from ml.data import find_samples

    recorded = {}
    if (emps / HASHES).is_file():
        for line in (emps / HASHES).read_text().splitlines():
            digest, name = line.split(maxsplit=1)
            recorded[Path(name.lstrip("*")).name] = digest
    files = find_samples([emps / "images"], emps / "segmaps")
    return [(f, recorded.get(f.images[0].name) or sha256_file(f.images[0])) for f in files]


def emps_splits(emps: Path) -> list[tuple[Any, str]]:
    """EMPS's samples with their hash split (train, val or test)."""
    from dataset.splits import split_for

    return [(f, split_for(digest)) for f, digest in emps_digests(emps)]


def emps_parser(doc: str, minutes: float) -> argparse.ArgumentParser:
    """A training benchmark's parser (its description the docstring's first paragraph): --emps, --minutes (its
    training budget), --downsample, --out, --limit and --threads."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--emps", type=Path, default=EMPS, help="EMPS folder (images/, segmaps/)")
    ap.add_argument("--minutes", type=float, default=minutes, help="training budget of each run, validation included")
    ap.add_argument("--downsample", type=int, default=2)
    ap.add_argument("--limit", type=int, help="the first N EMPS images by name only (a quick check)")
    ap.add_argument("--device", default="cpu", help="torch device for training and validation (auto: cuda if any)")
    ap.add_argument("--workers", type=int, default=0, help="processes making the training patches (for a GPU)")
    return add_run_options(ap)


def parse_emps_args(parser: argparse.ArgumentParser, smoke: dict[str, Any],
                    argv: Sequence[str] | None = None) -> argparse.Namespace | None:
    """parse_args for a benchmark with --emps and --threads: None (the benchmark skips) when --emps is not laid out
    as EMPS; otherwise the arguments, with torch's threads set when --threads is given."""
    args = parse_args(parser, smoke, argv)
    if emps_missing(args.emps):
        return None
    if args.threads:
        import torch  # the benchmarks that train; the others need not load it

        torch.set_num_threads(args.threads)
    return args


def add_patch_options(parser: argparse.ArgumentParser, defaults) -> argparse.ArgumentParser:
    """--patch, --patches-per-epoch, --batch-size and --decoder-channels, defaulting to a TrainConfig's."""
    parser.add_argument("--patch", type=int, default=defaults.patches.size)
    parser.add_argument("--patches-per-epoch", type=int, default=defaults.patches.per_epoch)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--decoder-channels", type=ints, help="comma-separated (default: the recipe's)")
    return parser
