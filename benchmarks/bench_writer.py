#!/usr/bin/env python
"""Time ``pixret.ranks_from_scores`` on an R1M-sized score matrix (70 queries x 1,005,994 images, float32).

    python benchmarks/bench_writer.py [--repeats 3] [--top-k 100]

Interleaved, in one process, each repeat in the same order: ``ranks_from_scores(scores, top_k)`` (a partition of
a block of rows, then a sort of the kept K; ties by index id), the straightforward stable full sort cut to K
(``np.argsort(-scores, kind="stable")[:, :K]``, the same ranks), and ``np.argpartition`` + a sort of the K
(faster, but which of several equal scores at the cut it keeps is unspecified). Scores are rounded to 3 decimals,
so ties are common, as with quantised similarities. Prints each one's median wall time, their ratio to the full
sort, and the peak memory numpy allocated beyond the scores (tracemalloc).
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

import numpy as np

import pixret
from pixret.metric.core.benchmarks import R1M_DISTRACTORS

QUERIES, INDEX = 70, 4993 + R1M_DISTRACTORS


def full_sort(scores: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def partition_only(scores: np.ndarray, k: int) -> np.ndarray:
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--top-k", type=int, default=100)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    scores = np.round(rng.random((QUERIES, INDEX), np.float32), 3)
    ways = {"ranks_from_scores": lambda: pixret.ranks_from_scores(scores, top_k=args.top_k),
            "argsort, cut to K": lambda: full_sort(scores, args.top_k),
            "argpartition + sort": lambda: partition_only(scores, args.top_k)}
    times = {name: [] for name in ways}
    peaks = {}
    results = {}
    for _ in range(args.repeats):
        for name, way in ways.items():
            tracemalloc.start()
            start = time.perf_counter()
            results[name] = way()
            times[name].append(time.perf_counter() - start)
            peaks[name] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    assert (results["ranks_from_scores"] == results["argsort, cut to K"]).all(), "ties must rank by index id"
    reference = statistics.median(times["argsort, cut to K"])
    print(f"{QUERIES} x {INDEX:,} float32 scores ({scores.nbytes / 2**20:.0f} MiB), top_k={args.top_k}, "
          f"{args.repeats} repeats interleaved (median):")
    for name in ways:
        median = statistics.median(times[name])
        print(f"  {name:22s} {median:7.2f} s  {median / reference:5.2f}x the full sort  "
              f"peak {peaks[name] / 2**20:7.0f} MiB")
    same = (results["argpartition + sort"] == results["argsort, cut to K"]).all(axis=1).sum()
    print(f"  argpartition + sort gives the id-ordered ranks for {same} of {QUERIES} queries (ties at the cut)")


if __name__ == "__main__":
    main()
