#!/usr/bin/env python
"""What the pairs config's ``shapes`` column costs the build, at the full ROxford structure.

    python benchmarks/bench_shapes.py [--gnd ../shared/data/revisitop/gnd_roxford5k.pkl] [--shapes 2] [--points 40]

The pairs rows of the three protocols (revisitop's real lists: 20,646 rows for ROxford) are made by
``rows.pair_rows`` with one label per (query group, positive image), as upstream, each of ``--shapes``
shapes of ``--points`` float points, and turned into Arrow tables as the build does (``Tables.tables``),
with the full pairs schema and with the same schema less ``shapes``, interleaved, ``--repeats`` times
(median). Then both tables are written to Parquet (zstd, as datasets writes it) and their sizes compared.
"""

from __future__ import annotations

import argparse
import io
import itertools
import statistics
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pixret import geometry, rows
from pixret.release import load_ground_truth

ROOT = Path(__file__).resolve().parents[1]


def ground_truth_rows(gt, num_shapes: int, num_points: int, seed: int = 0):
    """masks, bboxes and shapes of every positive pair; queries with identical lists share their labels."""
    rng = np.random.default_rng(seed)
    mask = geometry.rasterise([np.array([[100, 100], [600, 120], [500, 500]], float)], 768, 1024)
    groups, labels = {}, {}
    masks, bboxes, shapes = {}, {}, {}
    for q in range(len(gt.query_names)):
        group = groups.setdefault((tuple(gt.easy[q]), tuple(gt.hard[q])), len(groups))
        for i in gt.easy[q] + gt.hard[q]:
            if (group, i) not in labels:
                labels[group, i] = [{"shape_type": "polygon", "points": rng.uniform(0, 1024, (num_points, 2)).tolist()}
                                    for _ in range(num_shapes)]
            masks[q, i], bboxes[q, i], shapes[q, i] = mask, [100.0, 100.0, 501.0, 401.0], labels[group, i]
    return masks, bboxes, shapes


def tables(gt, masks, bboxes, shapes, schema) -> list[pa.Table]:
    out = []
    for protocol in ("easy", "medium", "hard"):
        generated = rows.pair_rows(gt, masks, bboxes, protocol, shapes)
        while batch := list(itertools.islice(generated, rows.TABLE_ROWS["pairs"])):
            out.append(pa.Table.from_pylist(batch, schema=schema))
    return out


def parquet_bytes(parts: list[pa.Table]) -> int:
    buffer = io.BytesIO()
    pq.write_table(pa.concat_tables(parts), buffer, compression="zstd")
    return buffer.tell()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gnd", type=Path, default=ROOT.parent / "shared/data/revisitop/gnd_roxford5k.pkl")
    parser.add_argument("--shapes", type=int, default=2, help="shapes per label file")
    parser.add_argument("--points", type=int, default=40, help="points per shape")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    gt = load_ground_truth(args.gnd)
    masks, bboxes, shapes = ground_truth_rows(gt, args.shapes, args.points)
    full = rows.FEATURES["pairs"].arrow_schema
    without = pa.schema([f for f in full if f.name != "shapes"], metadata=full.metadata)
    times = {"with shapes": [], "without": []}
    for _ in range(args.repeats):
        for name, schema in (("with shapes", full), ("without", without)):
            start = time.perf_counter()
            made = tables(gt, masks, bboxes, shapes, schema)
            times[name].append(time.perf_counter() - start)
    sizes = {name: parquet_bytes(tables(gt, masks, bboxes, shapes, schema))
             for name, schema in (("with shapes", full), ("without", without))}
    num_rows = sum(t.num_rows for t in made)
    print(f"{args.gnd.name}: {num_rows} pairs rows (3 protocols), labels of {args.shapes} shapes x {args.points} "
          f"points; median of {args.repeats}, interleaved")
    for name in times:
        print(f"  Arrow tables {name}: {statistics.median(times[name]):.3f} s "
              f"(min {min(times[name]):.3f}, max {max(times[name]):.3f}); Parquet {sizes[name] / 1e6:.2f} MB")
    ratio = statistics.median(times["with shapes"]) / statistics.median(times["without"])
    print(f"  shapes column: x{ratio:.2f} the time, +{(sizes['with shapes'] - sizes['without']) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
