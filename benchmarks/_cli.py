"""The `--smoke` option shared by the Python benchmarks. Not a benchmark itself."""
from __future__ import annotations

import argparse
from collections.abc import Sequence
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
