"""pixret_map against hand-computed cases and a slow, literal implementation of the authors' scoring."""

from __future__ import annotations

import json
import subprocess
import os
import sys
import time
import uuid
import warnings

import numpy as np
import pytest
from datasets import load_dataset
from hypothesis import given, settings, strategies as st
from pycocotools import mask as cocomask

import pixret
from pixret import masks, synthetic
from pixret.metric.core import benchmarks, ranking, references, rle, scoring
from pixret.metric.core.benchmarks import BENCHMARKS, Benchmark, lists_digest
from pixret.metric.core.errors import InputError
from pixret.metric.core.predictions import Where, parse_prediction

THRESHOLDS = [t / 100 for t in range(50, 100, 5)]


# ---------------------------------------------------------------- a slow, literal reference
def slow_ap(positions, nres):
    ap = 0.0
    for j, rank in enumerate(positions):
        precision_0 = 1.0 if rank == 0 else j / rank
        precision_1 = (j + 1) / (rank + 1)
        ap += (precision_0 + precision_1) * (1.0 / nres) / 2.0
    return ap


def slow_positions(ranking, positives, junk):
    pos = [p for p, i in enumerate(ranking) if i in positives]
    junk_pos = [p for p, i in enumerate(ranking) if i in junk]
    adjusted = []
    for p in pos:  # minus the number of junk images ranked before it
        adjusted.append(p - sum(1 for jp in junk_pos if jp < p))
    return adjusted


def slow_pixel_map(ranks, ok, junk, ious, ignore=(), official=True):
    """ranks: (num_queries, K); ok/junk: per-query id lists; ious: {(q, i): iou}."""
    maps = []
    for t in THRESHOLDS:
        total, nq, empty = 0.0, len(ok), 0
        for q in range(nq):
            if q in ignore:
                if not official:
                    empty += 1
                continue
            qgnd = [i for i in ok[q] if ious[q, i] > t]
            if not qgnd:
                empty += 1
                continue
            total += slow_ap(slow_positions(list(ranks[q]), set(qgnd), set(junk[q])), len(qgnd))
        maps.append(total / (nq - empty) if nq - empty else 0.0)
    return sum(maps) / len(maps)


def slow_image_map(ranks, ok, junk, kappas=(1, 5, 10)):
    aps, prs = [], []
    for q in range(len(ok)):
        if not ok[q]:
            continue
        pos = slow_positions(list(ranks[q]), set(ok[q]), set(junk[q]))
        aps.append(slow_ap(pos, len(ok[q])))
        pos1 = [p + 1 for p in pos]
        row = []
        for k in kappas:
            kq = min(max(pos1), k) if pos1 else k
            row.append(sum(1 for p in pos1 if p <= kq) / kq)
        prs.append(row)
    return float(np.mean(aps)), np.mean(prs, axis=0)


def np_iou(a, b):
    a, b = a.astype(bool), b.astype(bool)
    union = (a | b).sum()
    return (a & b).sum() / union if union else 0.0


def box_of(mask):
    ys, xs = np.nonzero(mask)
    out = np.zeros_like(mask)
    if len(xs):
        out[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1] = 1
    return out


# ---------------------------------------------------------------- hand-computed cases
def _run(positions, ious, junk=None, ignored=(), official=True):
    junk = junk or [[] for _ in positions]
    return ranking.pixel_map([np.array(p) for p in positions], [np.array(i, float) for i in ious],
                        [np.array(j, dtype=np.int64) for j in junk], ignored, official=official)[0]


def test_average_precision_by_hand():
    assert ranking.average_precision(np.array([0]), 1) == 1.0
    assert ranking.average_precision(np.array([1]), 1) == 0.25
    assert ranking.average_precision(np.array([0]), 2) == 0.5  # the other positive is never retrieved
    assert ranking.average_precision(np.array([0, 2]), 2) == pytest.approx((1 + 1) / 2 / 2 + (1 / 2 + 2 / 3) / 2 / 2)


def test_iou_exactly_at_threshold_does_not_count():
    # q0: IoU 0.5 -> counts at no threshold: dropped everywhere; q1: IoU 0.55 counts at 0.50 only
    per_t = ranking.pixel_map([np.array([0]), np.array([0])], [np.array([0.5]), np.array([0.55])],
                         [np.array([], np.int64)] * 2)[1]
    assert per_t[0] == 1.0  # q1 perfect, q0 dropped from the mean
    assert (per_t[1:] == 0).all()  # both dropped: defined as 0


def test_ignored_query_lowers_map_by_one_seventieth():
    positions = [[0]] * 70
    ious = [[1.0]] * 70
    assert _run(positions, ious, ignored=(56, 63)) == pytest.approx(68 / 70, abs=1e-12)
    assert _run(positions, ious, ignored=(56,)) == pytest.approx(69 / 70, abs=1e-12)
    assert _run(positions, ious, ignored=(56, 63), official=False) == 1.0


def test_below_threshold_positive_stays_a_negative():
    # positives at positions 0 (IoU 0.3) and 1 (IoU 0.99): at every t only the second counts,
    # and the first still occupies position 0, so AP = 0.25, not 1.0
    assert _run([[0, 1]], [[0.3, 0.99]]) == 0.25


def test_junk_shifts_positions():
    assert _run([[1]], [[0.99]], junk=[[0]]) == 1.0
    assert _run([[1]], [[0.99]]) == 0.25


def test_unranked_positives_count_in_nres():
    assert _run([[0, -1]], [[0.99, 0.99]]) == 0.5


def test_all_dropped_is_zero():
    assert _run([[0], [0]], [[0.2], [0.4]]) == 0.0
    assert _run([[0]] * 3, [[0.2]] * 3, ignored=(1,)) == 0.0


def test_image_map_and_precision_at_k():
    ap, prs, aps, _ = ranking.image_map([np.array([0, 3, -1])], [np.array([1])])
    # adjusted positions 0 and 2 (junk at 1), three positives
    assert ap == pytest.approx(slow_ap([0, 2], 3))
    assert prs.tolist() == pytest.approx([1.0, 2 / 3, 2 / 3])  # kq = min(max(1, 3), k)


# ---------------------------------------------------------------- random inputs vs the slow reference
def _random_problem(seed):
    rng = np.random.default_rng(seed)
    num_queries = int(rng.integers(1, 7))
    db = int(rng.integers(3, 25))
    distractors = int(rng.integers(0, 10))
    special = np.array(THRESHOLDS + [0.0, 1.0])
    ok, junk, ious = [], [], {}
    for q in range(num_queries):
        ids = rng.permutation(db)
        n_ok, n_junk = int(rng.integers(0, min(6, db) + 1)), int(rng.integers(0, 3))
        ok.append(sorted(ids[:n_ok].tolist()))
        junk.append(sorted(ids[n_ok:n_ok + n_junk].tolist()))
        for i in ok[-1]:
            ious[q, i] = float(rng.choice(special)) if rng.random() < 0.4 else float(rng.random())
    k = int(rng.integers(1, db + distractors + 1))
    ranks = np.stack([rng.permutation(db + distractors)[:k] for _ in range(num_queries)])
    ignore = tuple(int(v) for v in rng.choice(num_queries, int(rng.integers(0, min(2, num_queries) + 1)), False))
    return ranks, ok, junk, ious, ignore


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), official=st.booleans())
def test_pixel_and_image_map_equal_the_slow_reference(seed, official):
    ranks, ok, junk, ious, ignore = _random_problem(seed)
    relevant = [np.array(o + j, dtype=np.int64) for o, j in zip(ok, junk)]
    located = ranking.locate(ranks, np.arange(len(relevant)), relevant, index_size=ranks.max() + 1)
    pos = [p[: len(o)] for p, o in zip(located, ok)]
    junk_pos = [p[len(o):] for p, o in zip(located, ok)]
    iou_lists = [np.array([ious[q, i] for i in o]) for q, o in enumerate(ok)]
    ours = ranking.pixel_map(pos, iou_lists, junk_pos, ignore, official=official)[0]
    assert ours == pytest.approx(slow_pixel_map(ranks, ok, junk, ious, ignore, official), abs=1e-12)
    if any(ok):
        image_ap, image_pr, _, _ = ranking.image_map(pos, junk_pos)
        ref_ap, ref_pr = slow_image_map(ranks, ok, junk)
        assert image_ap == pytest.approx(ref_ap, abs=1e-12)
        assert image_pr == pytest.approx(ref_pr, abs=1e-12)


# ---------------------------------------------------------------- IoUs
def test_ious_on_masks_with_known_overlap():
    gt = np.zeros((20, 30), np.uint8)
    gt[0:10, 0:10] = 1
    shifted = np.zeros_like(gt)
    shifted[0:10, 5:15] = 1
    ell = np.zeros_like(gt)  # an L: its box is the 10x10 square, its area 19
    ell[0:10, 0] = 1
    ell[9, 0:10] = 1
    truth = rle.to_coco(masks.encode(gt))
    predicted = [rle.to_coco(masks.encode(m)) for m in (shifted, ell)] + [None, truth]
    boxes = np.full((4, 4), np.nan)
    boxes[3] = [0, 0, 5, 10]  # a given box is the detection
    det, seg = scoring.pair_ious(predicted, boxes, [truth] * 4)
    assert det.tolist() == pytest.approx([50 / 150, 1.0, 0.0, 0.5])
    assert seg.tolist() == pytest.approx([50 / 150, 19 / 100, 0.0, 1.0])


def test_rle_validation():
    good = masks.encode(np.eye(5, dtype=np.uint8))
    assert rle.problem(good) is None
    assert rle.problem({**good, "counts": good["counts"].encode()}) is None
    assert "cover" in rle.problem({**good, "size": [5, 6]})
    assert "not a valid" in rle.problem({**good, "counts": good["counts"] + "a"})
    assert "not a valid" in rle.problem({**good, "counts": "~~~"})
    assert "size" in rle.problem({"size": [5], "counts": good["counts"]})
    assert "expected" in rle.problem([1, 2])
    # the bytes checked are the bytes pycocotools gets: nothing outside ASCII '0'..'o' passes
    for bad in ("\u0101", "\u4e2d", "\x00", "\xff", "\U0001f600"):
        assert rle.problem({**good, "counts": good["counts"][:2] + bad + good["counts"][2:]}) is not None
    assert "non-ASCII" in rle.problem({**good, "counts": good["counts"] + "\u0101"})


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_batched_rle_check_flags_exactly_the_broken_ones(seed):
    rng = np.random.default_rng(seed)
    rles, broken = [], []
    for k in range(int(rng.integers(1, 8))):
        shape = tuple(int(v) for v in rng.integers(1, 40, 2))
        mask = (rng.random(shape) < rng.random()).astype(np.uint8)
        encoded = masks.encode(mask)
        damage = rng.integers(0, 5)
        if damage == 1:
            encoded["size"] = [shape[0] + 1, shape[1]]
        elif damage == 2:
            encoded["counts"] = encoded["counts"][:-1]
        elif damage == 3:
            encoded["counts"] = encoded["counts"] + "\x7f"
        elif damage == 4:
            encoded["counts"] = encoded["counts"] + chr(int(rng.integers(0x100, 0x3000)))
        rles.append((encoded, mask))
        broken.append(bool(damage))
    # one by one, exactly the broken ones are refused
    assert [rle.problem(r) is not None for r, _ in rles] == broken
    # together, the check stops at the first broken one: those before it are accepted, those after it not checked
    coco, problems = rle.check([r for r, _ in rles])
    first = broken.index(True) if True in broken else len(rles)
    assert [p is not None for p in problems] == [k >= first for k in range(len(rles))]
    assert all(p.startswith("not checked") for p in problems[first + 1:])
    for (encoded, mask), checked, problem in zip(rles, coco, problems):
        if problem is None:  # what we accept, pycocotools decodes back to the very mask
            assert np.array_equal(cocomask.decode(checked), mask)
        else:
            assert checked is None


# ---------------------------------------------------------------- through evaluate.load on a built dataset
def _perfect(split):
    return [{"mask": row["mask"]} for row in split]


def test_evaluate_load_end_to_end_equals_reference(splits, custom_metric):
    for protocol, split in splits.items():
        rng = np.random.default_rng(len(protocol))
        preds, ious_seg, ious_det = [], {}, {}
        for row in split:
            if row["mask"] is None:
                preds.append({"mask": None})
                continue
            gt = masks.decode(row["mask"])
            pred = np.roll(gt, int(rng.integers(-4, 5)), axis=int(rng.integers(0, 2)))
            pred[: int(rng.integers(0, 6))] = 0
            preds.append({"mask": masks.encode(pred)})
            if row["positive"]:
                ious_seg[row["query_id"], row["index_id"]] = np_iou(pred, gt)
                ious_det[row["query_id"], row["index_id"]] = np_iou(box_of(pred), box_of(gt))
        num_queries = max(split["query_id"]) + 1
        ranks = np.stack([rng.permutation(40) for _ in range(num_queries)])  # ids >= 12 are distractors
        result = custom_metric.compute(predictions=preds, references=split, ranks=ranks, index_size=12,
                                       distractors=28)
        ok = [[r["index_id"] for r in split if r["query_id"] == q and r["positive"]] for q in range(num_queries)]
        junk = [[r["index_id"] for r in split if r["query_id"] == q and not r["positive"]] for q in range(num_queries)]
        assert result["map_det"] == pytest.approx(slow_pixel_map(ranks, ok, junk, ious_det), abs=1e-9)
        assert result["map_seg"] == pytest.approx(slow_pixel_map(ranks, ok, junk, ious_seg), abs=1e-9)
        assert np.mean(result["per_threshold"]["map_seg"]) == pytest.approx(result["map_seg"], abs=1e-12)
        image_ap, image_pr = slow_image_map(ranks, ok, junk)
        assert result["image_map"] == pytest.approx(image_ap, abs=1e-9)
        assert [result[f"image_mp@{k}"] for k in (1, 5, 10)] == pytest.approx(image_pr.tolist(), abs=1e-9)
        per_query_seg = [np.mean([ious_seg[q, i] for i in ok[q]]) for q in range(num_queries) if ok[q]]
        assert result["miou_seg"] == pytest.approx(np.mean(per_query_seg), abs=1e-9)
        assert result["per_query"]["query_id"] == list(range(num_queries))
        for key in ("miou_det", "miou_seg", "map_det", "map_seg", "image_map", "image_mp@1"):
            assert 0.0 <= result[key] <= 1.0


def test_perfect_and_missing_predictions(splits, custom_metric):
    split = splits["medium"]
    perfect = custom_metric.compute(predictions=_perfect(split), references=split)
    assert perfect["miou_det"] == perfect["miou_seg"] == 1.0 and "map_det" not in perfect
    with pytest.warns(UserWarning, match="none of the 20 scored positive pairs has a prediction"):
        empty = custom_metric.compute(predictions=[None] * len(split), references=split.to_list())
    assert empty["miou_det"] == empty["miou_seg"] == 0.0
    boxes = [{"mask": None, "bbox": r["bbox"]} if r["bbox"] else None for r in split]
    ranks = np.tile(np.arange(12), (4, 1))
    detection_only = custom_metric.compute(predictions=boxes, references=split, ranks=ranks, index_size=12)
    assert detection_only["miou_det"] == 1.0
    assert detection_only["miou_seg"] is None and detection_only["map_seg"] is None


def test_subset_of_queries_is_explicit(splits, custom_metric):
    split = splits["medium"]
    rows = [r for r in split if r["query_id"] in (1, 3)]
    with pytest.raises(ValueError, match=r"references lack queries \[0, 2\] \(2 of 4 queries"):
        custom_metric.compute(predictions=_perfect(rows), references=rows, num_queries=4)
    result = custom_metric.compute(predictions=_perfect(rows), references=rows, queries=[1, 3], num_queries=4,
                                   ranks=np.tile(np.arange(12), (2, 1)), index_size=12)
    assert result["subset"] == [1, 3] and result["per_query"]["query_id"] == [1, 3]
    assert result["miou_seg"] == 1.0 and len(result["per_query"]["image_ap"]) == 2


def test_ranks_array_is_not_copied(splits):
    refs = references.check_references(splits["medium"], "custom", index_size=12)
    ranks = np.tile(np.arange(12, dtype=np.int64), (4, 1))
    assert ranking.check_ranks(ranks, refs)[0] is ranks


def test_one_compute_touches_no_cache_file(splits, tmp_path):
    """Scored in memory: no Arrow cache file, no lock another evaluation could wait on."""
    metric = pixret.load_metric("custom", cache_dir=str(tmp_path))
    split = splits["medium"]
    assert metric.compute(predictions=_perfect(split), references=split)["miou_seg"] == 1.0
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_unknown_config_name():
    with pytest.raises(ValueError, match="config_name must be one of"):
        pixret.load_metric("roxford")


def test_load_metric_outside_the_clone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert type(pixret.load_metric("proxford")).__name__ == "PixretMap"


# ---------------------------------------------------------------- distributed mode
_WORKER = """
import json, sys
import numpy as np
from datasets import load_dataset
import pixret

process_id, out_dir, experiment_id, split_dir = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
split = load_dataset(split_dir, "pairs", split="medium")
half = len(split) // 2
part = split.select(range(half) if process_id == 0 else range(half, len(split)))
metric = pixret.load_metric("custom", num_process=2, process_id=process_id, experiment_id=experiment_id,
                            cache_dir=out_dir, timeout=200)
metric.add_batch(predictions=[{"mask": r["mask"]} if r["index_id"] % 2 else None for r in part], references=part)
result = metric.compute(ranks=np.tile(np.arange(12), (4, 1))[:, ::-1].copy(), index_size=12)
print(json.dumps(None if result is None else {k: v for k, v in result.items() if k != "per_query"}))
"""


def test_distributed_two_processes_equal_one(tiny_dataset, tmp_path, custom_metric):
    """Two real worker processes (as `pytest` or `python -m pytest` starts them: nothing from tests/ is
    imported there); a worker that dies fails the test at once instead of leaving the other waiting."""
    experiment_id = uuid.uuid4().hex
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(p), str(tmp_path), experiment_id,
                               str(tiny_dataset["out"])], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for p in (0, 1)]
    deadline = time.monotonic() + 240
    try:
        while any(p.poll() is None for p in procs):
            dead = [p for p in procs if p.poll() not in (None, 0)]
            assert not dead, f"a worker died: {dead[0].communicate()[1][-3000:]}"
            assert time.monotonic() < deadline, "the workers did not finish in 240 s"
            time.sleep(0.1)
        outputs = [p.communicate() for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert results[1] is None
    split = load_dataset(str(tiny_dataset["out"]), "pairs", split="medium")
    single = custom_metric.compute(
        predictions=[{"mask": r["mask"]} if r["index_id"] % 2 else None for r in split], references=split,
        ranks=np.tile(np.arange(12), (4, 1))[:, ::-1].copy(), index_size=12)
    assert results[0] == json.loads(json.dumps({k: v for k, v in single.items() if k != "per_query"}))
    assert 0 < results[0]["miou_seg"] < 1


def test_add_batch_then_compute_equals_one_call(splits, tiny_dataset, tmp_path):
    metric = pixret.load_metric("custom", experiment_id=uuid.uuid4().hex, cache_dir=str(tmp_path))
    split = splits["hard"]
    preds = [{"mask": r["mask"], "query_id": r["query_id"], "index_id": r["index_id"]} if r["positive"] else None
             for r in split]
    for start in range(0, len(split), 7):
        metric.add_batch(predictions=preds[start:start + 7], references=split.select(range(start, min(start + 7,
                                                                                                     len(split)))))
    stored = metric.compute(ranks=np.tile(np.arange(12), (4, 1)), index_size=12)
    direct = pixret.load_metric("custom").compute(predictions=preds, references=split,
                                                  ranks=np.tile(np.arange(12), (4, 1)), index_size=12)
    assert stored == direct and stored["miou_seg"] == 1.0


def test_compute_with_predictions_after_add_batch_is_refused(medium):
    split = medium
    perfect = [{"mask": r["mask"]} if r["positive"] else None for r in split]
    metric = pixret.load_metric("custom", experiment_id="two-sets")
    metric.add_batch(predictions=[None] * len(split), references=split)
    with pytest.raises(InputError, match=rf"after add / add_batch, with {len(split)} rows stored: both sets would be "
                                         "scored as one"):
        metric.compute(predictions=perfect, references=split)
    with pytest.warns(UserWarning, match="none of the 20 scored positive pairs has a prediction"):
        assert metric.compute()["miou_seg"] == 0.0  # the stored rows, alone
    assert metric.compute(predictions=perfect, references=split)["miou_seg"] == 1.0  # nothing stored: scored alone


# ---------------------------------------------------------------- oracles: which half costs the most
def test_oracles_equal_scoring_the_perfect_halves(splits, custom_metric):
    """perfect_ranking = scoring a ranking that puts every positive first (in the method's own order) with the same
    masks; perfect_masks = scoring the same ranking with IoU 1 everywhere, i.e. image mAP over the positives."""
    split = splits["medium"]
    rng = np.random.default_rng(11)
    predictions = []
    for row in split:
        shifted = np.roll(masks.decode(row["mask"]), int(rng.integers(0, 8)), axis=0) if row["positive"] else None
        predictions.append(None if shifted is None else {"mask": masks.encode(shifted)})
    ranks = np.stack([rng.permutation(12)[:8] for _ in range(4)])  # K = 8: some positives are not ranked
    result = custom_metric.compute(predictions=predictions, references=split, ranks=ranks, index_size=12)
    oracles = result["oracles"]
    assert oracles["perfect_masks"]["map_seg"] == pytest.approx(result["image_map"], abs=1e-12)
    perfect = custom_metric.compute(predictions=[{"mask": r["mask"]} if r["positive"] else None for r in split],
                                    references=split, ranks=ranks, index_size=12)
    assert perfect["oracles"]["perfect_ranking"]["map_seg"] == 1.0
    reranked = []
    for q in range(4):
        positives = {r["index_id"] for r in split if r["query_id"] == q and r["positive"]}
        ranked = [i for i in ranks[q] if i in positives]
        reranked.append(ranked + sorted(positives - set(ranked)) + [i for i in range(12) if i not in positives])
    direct = custom_metric.compute(predictions=predictions, references=split, ranks=np.array(reranked), index_size=12)
    for kind in ("det", "seg"):
        assert oracles["perfect_ranking"][f"map_{kind}"] == pytest.approx(direct[f"map_{kind}"], abs=1e-12)
    assert 0 < result["map_seg"] < min(oracles["perfect_ranking"]["map_seg"], oracles["perfect_masks"]["map_seg"])


# ---------------------------------------------------------------- inputs in other forms, what looks like a mistake
def _perfect_positives(split):
    return [{"mask": row["mask"]} if row["positive"] else None for row in split]


def _messages(caught) -> str:
    return "\n".join(str(w.message) for w in caught)


# ---------------------------------------------------------------- a subset is read in the order given
def test_subset_ranks_rows_follow_the_order_given(splits, custom_metric):
    split = splits["medium"]
    rng = np.random.default_rng(3)
    ranks = np.stack([rng.permutation(12) for _ in range(4)])
    full = custom_metric.compute(predictions=_perfect_positives(split), references=split, ranks=ranks, index_size=12)
    rows = [r for r in split if r["query_id"] in (1, 3)]
    result = custom_metric.compute(predictions=_perfect_positives(rows), references=rows, queries=[3, 1],
                                   ranks=ranks[[3, 1]], index_size=12, num_queries=4)
    assert result["per_query"]["query_id"] == [3, 1]
    for k, q in enumerate((3, 1)):  # row k of the subset-shaped ranks is query queries[k]
        assert result["per_query"]["image_ap"][k] == full["per_query"]["image_ap"][q]
    assert result["image_map"] == pytest.approx(np.mean([full["per_query"]["image_ap"][q] for q in (1, 3)]))
    same = custom_metric.compute(predictions=_perfect_positives(rows), references=rows, queries=[3, 1], ranks=ranks,
                                 index_size=12, num_queries=4)  # full-shaped ranks: rows are query ids
    assert same["image_map"] == result["image_map"]
    with pytest.raises(InputError, match="queries lists query 3 twice"):
        custom_metric.compute(predictions=_perfect_positives(rows), references=rows, queries=[3, 1, 3], num_queries=4)


# ---------------------------------------------------------------- the custom config on a benchmark's references
def test_custom_config_on_a_benchmark_is_refused_by_names(generators):
    facts = BENCHMARKS["proxford"]
    good = masks.encode(np.pad(np.ones((10, 12), np.uint8), ((6, 8), (10, 10))))
    rows = generators.split_rows(facts.query_names, facts.counts, facts.index_size, good)
    with pytest.raises(InputError, match=r"these references are PROxford \(by their query names\).*config 'proxford'"):
        pixret.load_metric("custom").compute(predictions=[None] * len(rows), references=rows,
                                             index_size=facts.index_size)


def test_custom_config_on_a_benchmark_is_refused_by_lists(splits):
    """Without query names, a benchmark is still recognised by its easy / hard / junk lists."""
    gnd = synthetic.tiny_gnd()
    lists = [[g[k] for g in gnd["gnd"]] for k in ("easy", "hard", "junk")]
    benchmarks.register(Benchmark("tinybench", "TinyBench", "rtiny", "Tiny", "tiny", (), "", "", tuple(gnd["qimlist"]),
                                  12, tuple(tuple(len(l) for l in per) for per in zip(*lists)), (), lists_digest(*lists),
                                  paper_tables=None))
    try:
        rows = [{k: v for k, v in r.items() if k != "query_name"} for r in splits["medium"]]
        with pytest.raises(InputError, match=r"these references are TinyBench \(by their easy / hard / junk lists\)"):
            pixret.load_metric("custom").compute(predictions=_perfect_positives(rows), references=rows)
        subset = [r for r in rows if r["query_id"] < 2]  # a subset is not the benchmark's lists: custom data
        assert pixret.load_metric("custom").compute(predictions=_perfect_positives(subset), references=subset, queries=[0, 1],
                                                    num_queries=4)["miou_seg"] == 1.0
    finally:
        benchmarks.unregister("tinybench")


# ---------------------------------------------------------------- the authors' mious.py: abstentions
def _literal_mious(split, predictions, ious):
    """mious.py's loop, literally: per query, hard positives (no prediction: 0), then easy ones (no prediction:
    `continue`, left out of medium); the mean of the per-query means."""
    per_query = {}
    for row, prediction, iou in zip(split, predictions, ious):
        if not row["positive"]:
            continue
        values = per_query.setdefault(row["query_id"], {"hard": [], "easy": []})[row["difficulty"]]
        if prediction is None:
            if row["difficulty"] == "hard":
                values.append(0.0)
            continue
        values.append(iou)
    return float(np.mean([np.mean(v["hard"] + v["easy"]) for _, v in sorted(per_query.items())]))


def test_official_medium_miou_leaves_out_abstained_easy_positives(splits, custom_metric):
    split = splits["medium"]
    rng = np.random.default_rng(5)
    predictions, ious = [], []
    for row in split:
        if not row["positive"] or rng.random() < 0.35:
            predictions.append(None)
            ious.append(0.0)
            continue
        shifted = np.roll(masks.decode(row["mask"]), int(rng.integers(0, 6)), axis=1)
        predictions.append({"mask": masks.encode(shifted)})
        ious.append(masks.iou(predictions[-1]["mask"], row["mask"]))
    abstained_easy = sum(1 for r, p in zip(split, predictions) if r["difficulty"] == "easy" and p is None)
    assert abstained_easy > 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        official = custom_metric.compute(predictions=predictions, references=split)
    assert official["miou_seg"] == pytest.approx(_literal_mious(split, predictions, ious), abs=1e-12)
    assert official["skipped_pairs"] == abstained_easy
    assert f"in mean mIoU the {abstained_easy} easy ones are left out of medium, as the authors' mious.py" in \
        _messages(caught)
    unofficial = custom_metric.compute(predictions=predictions, references=split, official=False)
    counted = {}
    for row, iou in zip(split, ious):
        if row["positive"]:
            counted.setdefault(row["query_id"], []).append(iou)
    assert unofficial["miou_seg"] == pytest.approx(np.mean([np.mean(v) for v in counted.values()]), abs=1e-12)
    assert "skipped_pairs" not in unofficial and unofficial["miou_seg"] < official["miou_seg"]
    hard = splits["hard"]  # the quirk is medium's: hard positives without prediction count 0 either way
    half = [{"mask": r["mask"]} if r["positive"] and k % 2 else None for k, r in enumerate(hard)]
    assert custom_metric.compute(predictions=half, references=hard)["miou_seg"] == \
        custom_metric.compute(predictions=half, references=hard, official=False)["miou_seg"] < 1


# ---------------------------------------------------------------- add_batch + compute = compute; rows in other forms
@pytest.mark.parametrize("change, outcome", [
    (lambda p: {"mask": None, "segmentation": p["mask"]}, "has both 'mask' and 'segmentation'"),
    (lambda p: {**p, "query_id": float(p["query_id"])}, None),  # 3.0 is the id 3, in both
    (lambda p: {**p, "category_id": 1, "score": 0.3}, None),  # COCO's keys, ignored, in both
    (lambda p: {**p, "query_id": 0.5}, "query_id must be a non-negative integer, got 0.5"),
])
def test_add_batch_and_compute_read_predictions_alike(splits, tmp_path, change, outcome):
    split = splits["hard"]
    predictions = [change({"mask": r["mask"], "query_id": r["query_id"], "index_id": r["index_id"]})
                   if r["positive"] else None for r in split]
    batched = pixret.load_metric("custom", experiment_id=uuid.uuid4().hex, cache_dir=str(tmp_path))
    if outcome:
        with pytest.raises(InputError, match=outcome):
            pixret.load_metric("custom").compute(predictions=predictions, references=split)
        with pytest.raises(InputError, match=outcome):
            batched.add_batch(predictions=predictions, references=split)
        return
    direct = pixret.load_metric("custom").compute(predictions=predictions, references=split)
    batched.add_batch(predictions=predictions, references=split)
    assert batched.compute() == direct and direct["miou_seg"] == 1.0
    with pytest.raises(InputError, match="nothing to score: pass compute.predictions=..., references=...., or "
                                         "add_batch first"):
        batched.compute()


def test_rows_from_pandas_and_streaming_datasets(splits, tiny_dataset, custom_metric):
    pandas = pytest.importorskip("pandas")
    split = splits["medium"]
    expected = custom_metric.compute(predictions=_perfect_positives(split), references=split)
    frame = pandas.DataFrame(list(split))
    assert custom_metric.compute(predictions=pandas.DataFrame({"mask": [p and p["mask"] for p in _perfect_positives(split)]}),
                                 references=frame) == expected
    streamed = load_dataset(str(tiny_dataset["out"]), "pairs", split="medium", streaming=True)
    assert custom_metric.compute(predictions=_perfect_positives(split), references=streamed) == expected


# ---------------------------------------------------------------- caches that cannot be written
def test_load_metric_with_unwritable_caches(tiny_dataset, tmp_path):
    """pixret.load_metric copies nothing into evaluate's modules cache, and one compute writes nothing: both work
    where the caches cannot be written (here they lie under a file); add_batch says where it cannot store rows."""
    code = f"""
import pixret
from datasets import load_dataset
split = load_dataset({str(tiny_dataset["out"])!r}, "pairs", split="medium")
metric = pixret.load_metric("custom")
print(metric.compute(predictions=[{{"mask": r["mask"]}} for r in split], references=split)["miou_seg"])
try:
    metric.add_batch(predictions=[None] * len(split), references=split)
except OSError as err:
    print(err)
"""
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    env = {**os.environ, "HF_MODULES_CACHE": str(blocked / "modules"),
           "HF_METRICS_CACHE": str(blocked / "metrics"), "HF_DATASETS_CACHE": str(tmp_path / "datasets")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.strip().splitlines()[-2:]
    assert first == "1.0"
    assert second.startswith(f"cannot store the rows in evaluate's cache folder {blocked / 'metrics'}")


# ---------------------------------------------------------------- rankings and queries that look like a mistake
def _caught(function) -> str:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        function()
    return "\n".join(str(w.message) for w in caught)


def test_one_based_ids_in_a_truncated_ranking_are_named(medium, custom_metric):
    """No id reaches the index size in a top-K ranking, so the id check cannot see 1-based ids: the top can."""
    rng = np.random.default_rng(0)
    ranks = []
    for q in range(4):
        relevant = [r["index_id"] for r in medium if r["query_id"] == q]
        others = [i for i in rng.permutation(11) if i not in relevant]  # never id 11: no id reaches 12
        ranks.append(np.array(relevant + others)[:5] + 1)  # the relevant first, then shifted by one
    text = _caught(lambda: custom_metric.compute(predictions=_perfect_positives(medium), references=medium,
                                                 ranks=np.array(ranks), index_size=12))
    assert "the ranks look 1-based: with every id - 1" in text
    right = np.array([np.argsort(rng.random(12)) for _ in range(4)])
    assert "1-based" not in _caught(lambda: custom_metric.compute(predictions=_perfect_positives(medium), references=medium,
                                                                  ranks=right, index_size=12))


def test_distractors_declared_but_absent_are_named(medium, custom_metric):
    text = _caught(lambda: custom_metric.compute(predictions=_perfect_positives(medium), references=medium,
                                                 ranks=np.tile(np.arange(12), (4, 1)), index_size=12,
                                                 distractors=1001001))
    assert "1001001 distractors are declared, but no ranks row holds an id past the index" in text


def test_queries_as_a_set_and_every_query_in_another_order(medium, custom_metric):
    with pytest.raises(InputError, match="queries must be a list: a set has no order"):
        custom_metric.compute(predictions=_perfect_positives(medium), references=medium, queries={0, 1, 2, 3})
    ranks = np.tile(np.arange(12), (4, 1))
    text = _caught(lambda: custom_metric.compute(predictions=_perfect_positives(medium), references=medium, queries=[3, 2, 1, 0],
                                                 ranks=ranks, index_size=12))
    assert "queries lists every query, in another order than their ids" in text
    every = custom_metric.compute(predictions=_perfect_positives(medium), references=medium, queries=[0, 1, 2, 3])
    assert "subset" not in every  # every query is the benchmark's figure, not a subset


def test_pandas_missing_values(medium, custom_metric):
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"mask": [r["mask"] for r in medium], "bbox": [float("nan")] * len(medium)})
    frame.loc[[k for k, r in enumerate(medium) if not r["positive"]], "mask"] = float("nan")
    assert custom_metric.compute(predictions=frame, references=medium)["miou_seg"] == 1.0  # NaN: no value
    with pytest.raises(InputError, match=r"bbox has a missing value \(NaN, as pandas writes a missing number\)"):
        parse_prediction({"bbox": [1.0, float("nan"), 2.0, 2.0]}, Where("row 0"))
