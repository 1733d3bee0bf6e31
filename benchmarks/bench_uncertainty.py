#!/usr/bin/env python
"""Time the bootstrap intervals and the paired comparison at the benchmarks' scale (numbers quoted in
docs/performance.md).

    python benchmarks/bench_uncertainty.py [--resamples 10000] [--repeats 5]

They work on per-query figures, so the index size (ROxford or R1M's 1,005,994 ids) does not enter:
70 queries, pixel APs at 10 thresholds with some queries dropped at the high ones and PROxford's two
ignored queries, mIoUs, image APs and P@k, for two methods. Prints, as min / median over the repeats:
``intervals`` of one result (every figure), ``compare`` of two (paired bootstrap + sign-flip test of every
figure), and a literal per-resample Python loop of pixel mAP alone, for scale.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from pixret.metric.core import uncertainty
from pixret.metric.core.benchmarks import BENCHMARKS
from pixret.metric.core.ranking import THRESHOLDS


def method(rng, num_queries: int = 70) -> dict:
    """Per-query figures shaped as the metric returns them for PROxford (None = dropped or ignored)."""
    ignored = BENCHMARKS["proxford"].ignored_queries
    skill = rng.uniform(0.3, 0.95, num_queries)  # a query's best localisation: dropped at thresholds above it
    ap = [[None if q in ignored or t >= skill[q] else float(rng.uniform(0, 1)) for t in THRESHOLDS]
          for q in range(num_queries)]
    per_query = {"query_id": list(range(num_queries)), "ap_det": ap, "ap_seg": ap,
                 **{key: rng.uniform(0, 1, num_queries).tolist() for key in ("miou_det", "miou_seg", "image_ap",
                                                                             "image_p@1", "image_p@5", "image_p@10")}}
    return {"per_query": per_query}


def literal_pixel_map(result: dict, rows) -> list[float]:
    """mAP@50:5:95 of each resample, one query at a time (the yardstick)."""
    ap, ignored = result["per_query"]["ap_det"], BENCHMARKS["proxford"].ignored_queries
    out = []
    for row in rows:
        per_threshold = []
        for t in range(len(THRESHOLDS)):
            total = count = 0
            for q in row:
                if q in ignored:
                    count += 1
                elif ap[q][t] is not None:
                    total, count = total + ap[q][t], count + 1
            per_threshold.append(total / count if count else 0.0)
        out.append(sum(per_threshold) / len(per_threshold))
    return out


def timed(function, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resamples", type=int, default=uncertainty.RESAMPLES)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    a, b = method(rng), method(rng)
    loop_rows = 1000
    report = {
        "intervals, one result, 8 figures": timed(lambda: uncertainty.intervals(a, "proxford",
                                                                                 resamples=args.resamples),
                                                  args.repeats),
        "compare, two results, 8 figures": timed(lambda: uncertainty.compare(a, b, "proxford",
                                                                             resamples=args.resamples), args.repeats),
        f"literal loop, pixel mAP only ({loop_rows} resamples, scaled to {args.resamples})": [
            t * args.resamples / loop_rows for t in timed(lambda: literal_pixel_map(
                a, uncertainty.resample_indices(70, loop_rows)), args.repeats)],
    }
    check = uncertainty.bootstrap(a, "proxford", resamples=loop_rows)["map_det"][1]
    assert np.allclose(check, literal_pixel_map(a, uncertainty.resample_indices(70, loop_rows)))
    print(f"70 queries x {len(THRESHOLDS)} thresholds, {args.resamples:,} resamples, {args.repeats} repeats")
    for what, times in report.items():
        print(f"{what}: min {min(times):.3f} s, median {float(np.median(times)):.3f} s")


if __name__ == "__main__":
    main()
