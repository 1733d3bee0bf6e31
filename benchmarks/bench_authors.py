#!/usr/bin/env python
"""Time reading the authors' result files at ROxford / R1M scale, and compare the IoUs with their procedure.

    python benchmarks/bench_authors.py [--gnd ../shared/data/revisitop/gnd_roxford5k.pkl] [--skip-r1m]

With revisitop's real ROxford ground truth and 1024x768 index images: a ground-truth polygon per
positive pair (a jittered quadrilateral), the method's polygon near it, both within the image.
Prints, from one run:
- reading a matching result (np.save of a dict, as the authors write it) of the positives only,
  and of every (query, index image) pair (all checked);
- the official IoUs of those polygons (the authors' procedure, ``pixret.metric.core.authors_iou``) and the time
  they take, against the authors' own way (S x S canvases, OpenCV fillPoly on int-truncated points, boxes
  from their min / max) on the same pairs: how many differ, and its time;
- the same regions given as masks (pycocotools' fill of the polygon, what ``pixret.masks.from_polygons``
  writes) and scored officially (exact against the ground-truth mask), and with official=False: how far
  each is from the polygon path, per pair (mean, max |difference|) and on the mean mIoU at one decimal;
- an R1M ranking in the authors' (revisitop's) layout, (1,005,994, 70) int64 on disk: read as is
  (memory-mapped, transposed) and scored with the distractors declared, vs the same ranks in memory
  as (70, K).
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

import numpy as np

import pixret
from pixret import masks
from pixret.metric.files.authors import read_matching_result
from pixret.metric.core.benchmarks import R1M_DISTRACTORS
from pixret.metric.files.results import read_ranks
from pixret.release import GroundTruth, load_pickle, protocol_lists

from bench_metric import timed  # the folder of the script is on the path

ROOT = Path(__file__).resolve().parents[1]
HEIGHT, WIDTH = 768, 1024


def quad(rng, box) -> np.ndarray:
    x, y, w, h = box
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]]) + rng.uniform(-0.08, 0.08, (4, 2)) * [w, h]


def polygons(gt: GroundTruth, rng):
    """(ground truth, prediction) polygons per medium positive pair."""
    truth, predicted = {}, {}
    for q in range(len(gt.query_names)):
        for i in protocol_lists(gt, "medium", q)[0]:
            box = (rng.uniform(-40, 700), rng.uniform(-40, 450), rng.uniform(120, 420), rng.uniform(100, 360))
            truth[q, i] = np.clip(quad(rng, box), 0, [WIDTH, HEIGHT])  # labels lie in their image
            predicted[q, i] = np.clip(quad(rng, np.add(box, rng.uniform(-30, 30, 4))), 0, [WIDTH, HEIGHT])
    return truth, predicted


def save(path: Path, entries: dict) -> float:
    np.save(path, {f"qimlist_{q}_imlist_{i}": points for (q, i), points in entries.items()})
    return path.stat().st_size / 1e6


def references(gt: GroundTruth, truth: dict) -> list:
    rows = []
    for q in range(len(gt.query_names)):
        positives, junk = protocol_lists(gt, "medium", q)
        for i in sorted(positives + junk):
            positive = i in positives
            rows.append({"query_id": q, "index_id": i, "query_name": gt.query_names[q], "positive": positive,
                         "difficulty": ("easy" if i in gt.easy[q] else "hard") if positive else "junk",
                         "mask": masks.from_polygons([truth[q, i]], HEIGHT, WIDTH) if positive else None,
                         "shapes": [{"shape_type": "polygon", "points": truth[q, i].tolist()}] if positive else None})
    return rows


def authors_ious(truth: dict, predicted: dict, pairs) -> tuple[np.ndarray, np.ndarray]:
    """The authors' procedure: int-truncated points, OpenCV fillPoly, inclusive boxes, on a square canvas
    as wide as the largest coordinate (a pixel at that coordinate falls off it)."""
    import cv2

    def ious(test, gt):
        test, gt = np.trunc(test).astype(np.int32), np.trunc(gt).astype(np.int32)
        side = int(max(test.max(), gt.max()))
        boxes, fills = np.zeros((2, side, side), bool), np.zeros((2, side, side), np.uint8)
        for k, points in enumerate((test, gt)):
            (x1, y1), (x2, y2) = points.min(0), points.max(0)
            boxes[k, y1:y2 + 1, x1:x2 + 1] = True
            cv2.fillPoly(fills[k], [points], 1)
        fills = fills.astype(bool)
        return [(a & b).sum() / (a | b).sum() for a, b in (boxes, fills)]

    det, seg = np.array([ious(predicted[p], truth[p]) for p in pairs]).T
    return det, seg


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gnd", type=Path, default=ROOT.parent / "shared/data/revisitop/gnd_roxford5k.pkl")
    parser.add_argument("--skip-r1m", action="store_true", help="leave out the R1M ranking (563 MB on disk)")
    args = parser.parse_args()
    gnd = load_pickle(args.gnd)
    gt = GroundTruth(args.gnd, gnd["qimlist"], gnd["imlist"], [list(g["easy"]) for g in gnd["gnd"]],
                     [list(g["hard"]) for g in gnd["gnd"]], [list(g["junk"]) for g in gnd["gnd"]], [])
    rng = np.random.default_rng(0)
    truth, predicted = polygons(gt, rng)
    num_queries, num_index = len(gt.query_names), len(gt.index_names)
    sizes = [(HEIGHT, WIDTH)] * num_index
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        mb = save(folder / "positives.npy", predicted)
        t, by_pair = timed(lambda: read_matching_result(folder / "positives.npy", num_queries, sizes))
        print(f"matching result, {len(predicted):,} positive pairs ({mb:.1f} MB): read and checked in "
              f"{t:.2f} s ({t / len(predicted) * 1e3:.3f} ms per pair)")
        every = {(q, i): predicted.get((q, i), quad(rng, (100, 100, 300, 200)))
                 for q in range(num_queries) for i in range(num_index)}
        mb = save(folder / "every.npy", every)
        t, _ = timed(lambda: read_matching_result(folder / "every.npy", num_queries, sizes, pairs=predicted), 1)
        print(f"matching result, every pair ({len(every):,}, {mb:.0f} MB): all checked, the {len(predicted):,} "
              f"positives kept, in {t:.2f} s")
        del every

        refs = references(gt, truth)
        metric = pixret.load_metric("proxford")
        preds = [by_pair.get((r["query_id"], r["index_id"])) for r in refs]
        t_official, result = timed(lambda: metric.compute(predictions=preds, references=refs))
        pairs = list(zip(result["per_pair"]["query_id"], result["per_pair"]["index_id"]))
        sample = pairs[::10]
        t_theirs, (det, seg) = timed(lambda: authors_ious(truth, predicted, sample), 1)
        ours = {(q, i): (d, s_) for q, i, d, s_ in zip(*(result["per_pair"][k] for k in
                                                         ("query_id", "index_id", "iou_det", "iou_seg")))}
        differ = sum(ours[p] != (d, s_) for p, d, s_ in zip(sample, det, seg))
        print(f"official IoUs of {len(pairs):,} polygon pairs, whole compute: {t_official:.2f} s; the authors' way "
              f"(S x S canvases) on every 10th pair ({len(sample):,}): {t_theirs:.2f} s, {differ} pairs differ "
              f"(extrapolated to all: {t_theirs * len(pairs) / len(sample):.0f} s)")
        mask_preds = [None if p is None else {"mask": masks.from_polygons([p["polygon"]], HEIGHT, WIDTH)}
                      for p in preds]
        by_mask = metric.compute(predictions=mask_preds, references=refs)
        exact = metric.compute(predictions=preds, references=refs, official=False)
        for label, other in (("as masks, official", by_mask), ("as polygons, official=False", exact)):
            for name in ("det", "seg"):
                difference = np.abs(np.subtract(other["per_pair"][f"iou_{name}"], result["per_pair"][f"iou_{name}"]))
                print(f"  {label}: {name} IoU vs the polygon path over {len(pairs):,} pairs: mean |diff| "
                      f"{difference.mean():.4f}, max {difference.max():.4f}; medium mIoU {name} "
                      f"{100 * other[f'miou_{name}']:.1f} vs {100 * result[f'miou_{name}']:.1f}")

        if args.skip_r1m:
            return
        total = num_index + R1M_DISTRACTORS
        ranks = np.empty((total, num_queries), np.int64)  # revisitop's layout, as the authors save R1M rankings
        for q in range(num_queries):
            ranks[:, q] = rng.permutation(total)
        np.save(folder / "R1Moxford.npy", ranks)
        print(f"R1M ranking in the authors' layout: {ranks.shape}, {ranks.nbytes / 1e6:.0f} MB")
        in_memory = np.ascontiguousarray(ranks.T)
        del ranks
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_file, from_file = timed(lambda: metric.compute(
                predictions=preds, references=refs, distractors=R1M_DISTRACTORS,
                ranks=read_ranks(folder / "R1Moxford.npy", num_queries)))
            t_memory, direct = timed(lambda: metric.compute(predictions=preds, references=refs, ranks=in_memory,
                                                            distractors=R1M_DISTRACTORS))
        assert from_file["map_det"] == direct["map_det"] and from_file["image_map"] == direct["image_map"]
        print(f"  read as is (memory-mapped, transposed view) and scored with distractors={R1M_DISTRACTORS}: "
              f"{t_file:.2f} s; the same ranks in memory as (70, K): {t_memory:.2f} s")


if __name__ == "__main__":
    main()
