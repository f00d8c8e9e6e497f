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
