"""pixret demo: the whole project on a small generated benchmark, with no download (``pixret.demo`` says what it
generates, builds, scores and writes).

    pixret demo [--output demo_output] [--seed 0] [--small] [--with-opencv]
"""

from __future__ import annotations

import time
from pathlib import Path

from pixret.cli import UserError
from pixret.demo import run_demo

INTERRUPTED = "interrupted: nothing was written (the partial demo output was removed)"


def add_arguments(parser) -> None:
    parser.add_argument("--output", type=Path, default=Path("demo_output"),
                        help="folder to write (an earlier `pixret demo` output there is replaced; nothing else)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--small", action="store_true", help="a tiny world (for a quick check)")
    parser.add_argument("--with-opencv", action="store_true",
                        help="add the OpenCV SIFT + RANSAC baseline")


def run(args) -> int:
    if not 0 <= args.seed < 2**32:
        raise UserError(f"--seed must be 0 to {2**32 - 1}, got {args.seed}")
    start = time.perf_counter()
    summary = run_demo(args.output, args.seed, args.small, args.with_opencv)
    world = summary["world"]
    print(f"\nworld: {world['queries']} queries, {world['index_images']} index images, "
          f"medium: {world['positives_medium']} positives + {world['junk_medium']} junk\n")
    print(summary["tables"])
    print(f"tables: {args.output / 'tables.md'}, figures: {args.output / 'results.json'}")
    print(f"visual report: {summary['report']}")
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0
