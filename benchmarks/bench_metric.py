#!/usr/bin/env python
"""Time pixret_map at ROxford and R1M scale (numbers quoted in docs/performance.md and the metric card).

    python benchmarks/bench_metric.py [--gnd ../shared/data/revisitop/gnd_roxford5k.pkl] [--repeats 7]
        [--against REVISION] [--skip-r1m] [--rle-only]

Uses revisitop's real ROxford ground truth with synthetic 1024x768 masks (one
rectangle per pair, predictions shifted by a random amount) and random rankings:
70 x 4,993 ids (ROxford) and 70 x 1,005,994 int64 ids (R1M: revisitop1m's 1,001,001
distractors). Prints, from one run:
- the RLE validation every mask from outside goes through (``rle.check``): its wall
  time and peak memory over the counts' size on ROxford-sized masks from star-shaped
  polygons, and on 20 predictions of ~5 MB counts whose runs do not cover their
  declared size (malformed), all 20 or only the last;
- the full compute (``metric.compute`` in memory: checks, IoUs, mIoU, det + seg mAP,
  image mAP/mP, oracles) at ROxford scale, and where its time goes (per step);
- at R1M: the full compute and one plain np.isin pass over the ranks, interleaved
  (alternating, ``--repeats`` times; min and median of each, the ratio of the best
  times and the median of the paired ratios), where the compute's time goes, in
  units of the isin pass too, and whether locate gains from spreading rows over 2 threads;
- the peak memory numpy allocated during the compute (no copy of the ranks means far
  less than the ranks' size), a straightforward per-query loop implementation of seg
  mAP, and a ranks.max() memory pass.
With ``--against REVISION`` (e.g. the main branch), pixret/metric as of that git
revision is timed interleaved with today's at both scales, and their results are
compared to the last bit.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np

import pixret
import datasets

from pixret import masks
from pixret.rows import FEATURES
from pixret.metric.core.benchmarks import R1M_DISTRACTORS
from pixret.metric.core import ranking, references as reference_checks, rle, scoring
from pixret.metric.core.scoring import pair_ious
from pixret.metric.core.references import check_references
from pixret.release import GroundTruth, load_pickle, protocol_lists

ROOT = Path(__file__).resolve().parents[1]



def references_from_gnd(gnd: dict, protocol: str, rng):
    gt = GroundTruth(Path("gnd"), gnd["qimlist"], gnd["imlist"], [list(g["easy"]) for g in gnd["gnd"]],
                     [list(g["hard"]) for g in gnd["gnd"]], [list(g["junk"]) for g in gnd["gnd"]], [])
    refs, preds = [], []
    for q in range(len(gt.query_names)):
        positives, junk = protocol_lists(gt, protocol, q)
        for i in sorted(positives + junk):
            row = {"query_id": q, "index_id": i, "query_name": gt.query_names[q], "difficulty": "",
                   "positive": i in positives, "mask": None}
            row["difficulty"] = "easy" if i in gt.easy[q] else "hard" if i in gt.hard[q] else "junk"
            pred = None
            if row["difficulty"] != "junk":
                gt_mask = np.zeros((768, 1024), np.uint8)
                x, y = rng.integers(0, 600), rng.integers(0, 400)
                w, h = rng.integers(50, 400), rng.integers(50, 350)
                gt_mask[y:y + h, x:x + w] = 1
                row["mask"] = masks.encode(gt_mask)
                pred = {"mask": masks.encode(np.roll(gt_mask, rng.integers(-60, 60), axis=1))}
            refs.append(row)
            preds.append(pred)
    return refs, preds


def rankings(refs, num_ids: int, rng) -> np.ndarray:
    """A plausible system: each query's positives and junk mixed with as many other ids at the top."""
    num_queries = 1 + max(r["query_id"] for r in refs)
    ranks = np.empty((num_queries, num_ids), np.int64)
    for q in range(num_queries):
        relevant = np.asarray([r["index_id"] for r in refs if r["query_id"] == q])
        order = rng.permutation(num_ids)
        order = order[~np.isin(order, relevant)]
        top = rng.permutation(np.concatenate([relevant, order[: relevant.size]]))
        ranks[q] = np.concatenate([top, order[relevant.size:]])
    return ranks


def loop_map(ranks, refs, ious, ignored=(56, 63), thresholds=np.arange(50, 100, 5) / 100):
    """A straightforward implementation of the same figure: per threshold, per query, np.isin over the row."""
    num_queries = ranks.shape[0]
    ok = [[] for _ in range(num_queries)]
    junk = [[] for _ in range(num_queries)]
    iou = [[] for _ in range(num_queries)]
    for row, value in zip(refs, ious):
        (ok if row["positive"] else junk)[row["query_id"]].append(row["index_id"])
        if row["positive"]:
            iou[row["query_id"]].append(value)
    maps = []
    for t in thresholds:
        aps, dropped = [], 0
        for q in range(num_queries):
            if q in ignored:
                continue
            good = np.asarray(ok[q])[np.asarray(iou[q]) > t]
            if good.size == 0:
                dropped += 1
                continue
            pos = np.flatnonzero(np.isin(ranks[q], good))
            jpos = np.flatnonzero(np.isin(ranks[q], junk[q]))
            pos = pos - np.searchsorted(jpos, pos)
            j = np.arange(pos.size)
            p0 = np.where(pos > 0, j / np.maximum(pos, 1), 1.0)
            aps.append(((p0 + (j + 1) / (pos + 1)) / 2).sum() / good.size)
        maps.append(np.sum(aps) / (num_queries - dropped))
    return float(np.mean(maps))


def polygon_masks(count: int, rng, height=768, width=1024) -> list[dict]:
    """``count`` masks of one star-shaped polygon each (6 to 40 points), as labels outline a building."""
    out = []
    for _ in range(count):
        n = int(rng.integers(6, 40))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
        radius = rng.uniform(0.1, 0.45) * min(height, width) * rng.uniform(0.6, 1.4, n)
        points = np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], 1)
        out.append(masks.from_polygons([points.clip(0, [width, height])], height, width))
    return out


def noise_masks(count: int, rng, height=3000, width=3400) -> list[dict]:
    """``count`` masks of pixel noise: ~5 MB of counts each, declared one column wider than they are."""
    out = []
    for _ in range(count):
        encoded = masks.encode(rng.random((height, width)) < 0.5)
        out.append({"size": [height, width + 1], "counts": encoded["counts"]})
    return out


def measure_check(rles: list) -> tuple[float, int, str | None]:
    """(best wall time of rle.check, its peak traced allocation in bytes, the first problem)."""
    t, (_, problems) = timed(lambda: rle.check(rles))
    tracemalloc.start()  # a separate run: tracing slows Python down
    rle.check(rles)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return t, peak, next((p for p in problems if p), None)


def rle_memory(num_masks: int, rng) -> None:
    """Peak memory of validating counts strings, over the counts' size (target <= 4x)."""
    normal = polygon_masks(num_masks, rng)
    big = noise_masks(20, rng)
    valid_big = [{**m, "size": [m["size"][0], m["size"][1] - 1]} for m in big[:-1]] + big[-1:]
    for what, rles in ((f"{num_masks} masks of 1024x768 from polygons", normal),
                       ("20 malformed predictions of ~5 MB counts", big),
                       ("19 valid predictions of ~5 MB counts, then 1 malformed", valid_big)):
        size = sum(len(m["counts"]) for m in rles)
        t, peak, problem = measure_check(rles)
        print(f"RLE check, {what} ({size / 1e6:.1f} MB of counts): {t:.3f} s, peak {peak / 1e6:.1f} MB "
              f"= {peak / size:.2f} x the MB of counts" + (f"; {problem[:60]}" if problem else ""))


def timed(fn, repeat=3):
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def interleaved(fns: dict, repeats: int) -> tuple[dict, dict]:
    """Wall and CPU times of each function, run in turn (the first one rotating) ``repeats`` times: under load,
    each repeat gives every function the same conditions, ratios of one repeat's times are paired, and CPU
    time (of every thread of this process) hardly depends on what else the machine runs."""
    wall, cpu = {name: [] for name in fns}, {name: [] for name in fns}
    names = list(fns)
    for rep in range(repeats):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            start, start_cpu = time.perf_counter(), time.process_time()
            fns[name]()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return {name: np.asarray(t) for name, t in wall.items()}, {name: np.asarray(t) for name, t in cpu.items()}


def spread(t: np.ndarray) -> str:
    return f"min {t.min():.3f} s, median {np.median(t):.3f} s"


def ratio(a: np.ndarray, b: np.ndarray) -> str:
    """a over b: of the best times, and the median of the paired (same repeat) ratios."""
    return f"{a.min() / b.min():.2f}x (best over best), median of paired ratios {np.median(a / b):.2f}x"


def metric_at(revision: str):
    """``pixret/metric``'s scoring module (``core/scoring.py``; ``scoring.py`` before 2026-12-06) as of a git revision
    of this repository, imported as a package of its own (pixret/metric imports nothing from the rest of pixret),
    to time today's code against another side by side."""
    folder = Path(tempfile.mkdtemp(prefix="bench-metric-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "pixret/metric"], capture_output=True,
                             check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    (folder / "pixret/metric").rename(folder / "metric_at_revision")
    sys.path.insert(0, str(folder))
    inside = "core.scoring" if (folder / "metric_at_revision/core/scoring.py").exists() else "scoring"
    return importlib.import_module(f"metric_at_revision.{inside}")


def same_result(a, b) -> bool:
    """Every figure both give, per query and per pair, equal to the last bit (floats as their exact repr); keys one
    version adds (``kinds``) are left aside."""
    shared = set(a) & set(b)
    return json.dumps({k: a[k] for k in shared}, sort_keys=True, default=repr) == \
        json.dumps({k: b[k] for k in shared}, sort_keys=True, default=repr)


@contextmanager
def step_clock(steps: dict):
    """Wall and CPU seconds spent in each call of the named module functions while inside (``steps``: label ->
    (module, name)), added up in the yielded dict: label -> [wall, cpu]. A step called inside another (locate in
    rank_positions) counts for itself only: the time of the outer one excludes it."""
    spent = {label: np.zeros(2) for label in steps}
    inner = []  # per active step: the time of the steps called inside it
    originals = {label: getattr(module, name) for label, (module, name) in steps.items()}

    def clocked(label, fn):
        def wrapper(*args, **kwargs):
            start = np.array([time.perf_counter(), time.process_time()])
            inner.append(np.zeros(2))
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = np.array([time.perf_counter(), time.process_time()]) - start
                spent[label] += elapsed - inner.pop()
                if inner:
                    inner[-1] += elapsed
        return wrapper

    for label, (module, name) in steps.items():
        setattr(module, name, clocked(label, originals[label]))
    try:
        yield spent
    finally:
        for label, (module, name) in steps.items():
            setattr(module, name, originals[label])


def steps_of(scoring_module) -> dict:
    """The steps of evaluate_pixel_retrieval timed: label -> (module, function name); locate inside rank_positions."""
    ranking_module = sys.modules[scoring_module.__name__.rsplit(".", 1)[0] + ".ranking"]
    return {"check_references": (scoring_module, "check_references"),
            "check_predictions": (scoring_module, "check_predictions"), "pair_ious": (scoring_module, "pair_ious"),
            "warnings on predictions": (scoring_module, "_warn_suspicious"), "mean_miou": (scoring_module, "mean_miou"),
            "rank_positions": (scoring_module, "rank_positions"), "locate": (ranking_module, "locate"),
            "figures_from_positions": (scoring_module, "figures_from_positions"),
            "oracles": (scoring_module, "oracles")}


def where_time_goes(compute, repeats: int, unit=None, scoring_module=scoring) -> tuple[dict, dict]:
    """Median wall and CPU seconds per step of one compute (the steps of scoring.evaluate_pixel_retrieval, locate
    inside rank_positions, "other": the rest) and of the whole ("total"), over ``repeats`` runs; ``unit``: a
    function run before each compute, timed the same way ("unit"). ``scoring_module``: the version computing."""
    steps = steps_of(scoring_module)
    runs = []
    for _ in range(repeats):
        times = {}
        if unit:
            start, start_cpu = time.perf_counter(), time.process_time()
            unit()
            times["unit"] = np.array([time.perf_counter() - start, time.process_time() - start_cpu])
        with step_clock(steps) as spent:
            start, start_cpu = time.perf_counter(), time.process_time()
            compute()
            times["total"] = np.array([time.perf_counter() - start, time.process_time() - start_cpu])
        times.update(spent)
        times["other"] = times["total"] - sum(times[label] for label in steps)
        runs.append(times)
    median = {label: np.median([run[label] for run in runs], axis=0) for label in runs[0]}
    return {label: float(t[0]) for label, t in median.items()}, {label: float(t[1]) for label, t in median.items()}


def print_breakdown(title: str, wall: dict, cpu: dict) -> None:
    unit = "unit" in wall
    print(f"{title} (medians of each step; wall / CPU): total {wall['total']:.3f} s / {cpu['total']:.3f} s"
          + (f" = {wall['total'] / wall['unit']:.2f}x / {cpu['total'] / cpu['unit']:.2f}x one isin pass "
             f"({wall['unit']:.3f} s / {cpu['unit']:.3f} s)" if unit else ""))
    names = {"rank_positions": "rank_positions without locate", "other": "other (result assembly, ...)"}
    for label in sorted((k for k in wall if k not in ("total", "unit")), key=lambda k: -cpu[k]):
        extra = f" = {cpu[label] / cpu['unit']:.2f}x the isin pass's CPU" if unit else ""
        print(f"    {names.get(label, label):32s} {wall[label]:7.3f} s / {cpu[label]:7.3f} s CPU "
              f"{100 * cpu[label] / cpu['total']:5.1f}% of the CPU{extra}")


def locate_threads(big, refs, repeats: int) -> None:
    """Whether locate's rows spread over 2 threads (numpy releases the GIL in its loops; each thread a half of
    the rows) would beat one thread; the CPU time says what the threads cost."""
    relevant = [np.asarray([r["index_id"] for r in refs if r["query_id"] == q]) for q in range(big.shape[0])]
    rows = np.arange(big.shape[0])
    limit = {"index_size": big.shape[1] - R1M_DISTRACTORS, "distractors": R1M_DISTRACTORS}

    def two_threads():
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda half: ranking.locate(big, rows[half::2], relevant[half::2], **limit), (0, 1)))

    t, cpu = interleaved({"one": lambda: ranking.locate(big, rows, relevant, **limit), "two": two_threads}, repeats)
    print(f"  locate at R1M, one thread: {spread(t['one'])}; rows over 2 threads: {spread(t['two'])}; "
          f"2 threads / 1: {ratio(t['two'], t['one'])}; CPU time (median) {np.median(cpu['one']):.3f} s with one "
          f"thread, {np.median(cpu['two']):.3f} s with two")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gnd", type=Path, default=ROOT.parent / "shared/data/revisitop/gnd_roxford5k.pkl")
    parser.add_argument("--protocol", default="medium")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved repeats of each timing")
    parser.add_argument("--against", metavar="REVISION",
                        help="also time pixret/metric as of this git revision, interleaved, and check equal results")
    parser.add_argument("--rle-only", action="store_true", help="only the RLE validation lines")
    parser.add_argument("--skip-r1m", action="store_true", help="only the ROxford-scale lines")
    args = parser.parse_args()
    gnd = load_pickle(args.gnd)  # restricted unpickler: no code in the file runs
    rng = np.random.default_rng(0)
    rows, preds = references_from_gnd(gnd, args.protocol, rng)
    # the references as users pass them: a split of the pairs config (a datasets.Dataset, checked once per process)
    refs = datasets.Dataset.from_list([{**r, "index_name": str(r["index_id"]), "bbox": None, "shapes": None} for r in rows],
                                      features=FEATURES["pairs"])
    num_db = len(gnd["imlist"])
    metric = pixret.load_metric("proxford")  # its compute(predictions=..., references=...) is the call timed
    old = metric_at(args.against) if args.against else None
    print(f"{args.protocol}: {len(rows)} reference rows, {sum(r['positive'] for r in rows)} positives")
    rle_memory(sum(r["mask"] is not None for r in rows), np.random.default_rng(1))
    if args.rle_only:
        return

    def versions(ranks, **options) -> dict:
        out = {"today": lambda: metric.compute(predictions=preds, references=refs, ranks=ranks, **options),
               "today, the split not yet checked": lambda: (reference_checks._CHECKED.clear(), metric.compute(
                   predictions=preds, references=refs, ranks=ranks, **options))[1]}
        if old:
            out[args.against] = lambda: dict(old.evaluate_pixel_retrieval(preds, refs, benchmark="proxford",
                                                                           ranks=ranks, **options))
        return out

    small = rankings(rows, num_db, rng)
    computes = versions(small)
    t, cpu = interleaved(computes, args.repeats)
    print(f"ROxford scale (70 x {num_db}), full compute incl. IoUs and every check (in memory): {spread(t['today'])}; "
          f"CPU {spread(cpu['today'])} (map_det {computes['today']()['map_det']:.4f})")
    cold = "today, the split not yet checked"
    print(f"  the first compute of a split (its rows and masks checked): {spread(t[cold])}; CPU {spread(cpu[cold])}")
    if old:
        print(f"  {args.against}: {spread(t[args.against])}; CPU {spread(cpu[args.against])}")
        print(f"  today / {args.against}: wall {ratio(t['today'], t[args.against])}; CPU "
              f"{ratio(cpu['today'], cpu[args.against])}; results equal to the bit: "
              f"{same_result(computes['today'](), computes[args.against]())}")
        print(f"  the first compute of a split / {args.against}: wall {ratio(t[cold], t[args.against])}; CPU "
              f"{ratio(cpu[cold], cpu[args.against])}")
    print_breakdown("  where ROxford's compute goes", *where_time_goes(computes["today"], args.repeats))
    if old:
        print_breakdown(f"  where ROxford's compute went at {args.against}",
                        *where_time_goes(computes[args.against], args.repeats, scoring_module=old))
    if args.skip_r1m:
        return

    print("making R1M rankings ...", flush=True)
    big = rankings(rows, num_db + R1M_DISTRACTORS, rng)
    print(f"R1M ranks: {big.shape}, {big.dtype}, {big.nbytes / 1e9:.2f} GB")
    r1m = {"distractors": R1M_DISTRACTORS}
    relevant = [np.asarray([r["index_id"] for r in rows if r["query_id"] == q]) for q in range(70)]
    computes = versions(big, **r1m)
    isin = {"isin": lambda: [np.flatnonzero(np.isin(big[q], relevant[q])) for q in range(70)]}
    t, cpu = interleaved({**computes, **isin}, args.repeats)
    result = computes["today"]()
    print(f"R1M full compute (mIoU, det + seg mAP, image mAP/mP, oracles, validation), {args.repeats} repeats "
          f"interleaved with one plain np.isin pass over the ranks: compute {spread(t['today'])}, CPU "
          f"{spread(cpu['today'])}; isin {spread(t['isin'])}, CPU {spread(cpu['isin'])}")
    print(f"  full compute / one isin pass: wall {ratio(t['today'], t['isin'])}; "
          f"CPU {ratio(cpu['today'], cpu['isin'])}")
    if old:
        print(f"  {args.against}: {spread(t[args.against])}, CPU {spread(cpu[args.against])}; over one isin pass: "
              f"wall {ratio(t[args.against], t['isin'])}; CPU {ratio(cpu[args.against], cpu['isin'])}")
        print(f"  today / {args.against}: wall {ratio(t['today'], t[args.against])}; CPU "
              f"{ratio(cpu['today'], cpu[args.against])}; results equal to the bit: "
              f"{same_result(result, computes[args.against]())}")
    print_breakdown("  where R1M's compute goes", *where_time_goes(computes["today"], args.repeats, isin["isin"]))
    if old:
        print_breakdown(f"  where R1M's compute went at {args.against}",
                        *where_time_goes(computes[args.against], args.repeats, isin["isin"], old))
    locate_threads(big, rows, args.repeats)

    tracemalloc.start()  # a separate run: tracing slows Python down
    computes["today"]()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"  peak numpy allocation during the compute {peak / 1e6:.0f} MB vs ranks {big.nbytes / 1e6:.0f} MB")
    # the loop baseline gets the same segmentation IoUs the metric computed
    checked = check_references(refs, "proxford")
    scored = [k for k, r in enumerate(rows) if r["positive"] and r["mask"] is not None]
    coco = [checked.masks[k] for k in scored]
    _, seg = pair_ious([rle.to_coco(preds[k]["mask"]) for k in scored], np.full((len(scored), 4), np.nan), coco)
    ious = np.zeros(len(rows))
    ious[scored] = seg
    t_loop, loop_value = timed(lambda: loop_map(big, rows, ious), repeat=1)
    t_max, _ = timed(lambda: big.max())
    print(f"  map_seg {result['map_seg']:.6f}; per-query loop implementation (seg mAP only) {t_loop:.2f} s "
          f"-> {t_loop / np.median(t['today']):.1f}x the median compute, value {loop_value:.6f}")
    print(f"  one ranks.max() memory pass: {t_max:.3f} s -> median compute = "
          f"{np.median(t['today']) / t_max:.1f}x of it")


if __name__ == "__main__":
    main()
