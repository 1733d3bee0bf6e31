"""No plausible wrong number, silently: each case a user review found, with the error or warning it now gets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
import warnings

import numpy as np
import pytest
from datasets import load_dataset
from pycocotools import mask as cocomask

import pixret
from pixret import masks, synthetic
from pixret.cli import main
from pixret.dataset import open_dataset
from pixret.metric.core import benchmarks
from pixret.metric.core.benchmarks import BENCHMARKS, Benchmark, lists_digest
from pixret.metric.core.errors import InputError
from pixret.metric.core.rle import to_coco


@pytest.fixture(scope="module")
def splits(tiny_dataset):
    return {p: load_dataset(str(tiny_dataset["out"]), "pairs", split=p) for p in ("easy", "medium", "hard")}


def _perfect(split):
    return [{"mask": row["mask"]} if row["positive"] else None for row in split]


def _messages(caught) -> str:
    return "\n".join(str(w.message) for w in caught)


# ---------------------------------------------------------------- 1. a subset is read in the order given
def test_subset_ranks_rows_follow_the_order_given(splits, custom_metric):
    split = splits["medium"]
    rng = np.random.default_rng(3)
    ranks = np.stack([rng.permutation(12) for _ in range(4)])
    full = custom_metric.compute(predictions=_perfect(split), references=split, ranks=ranks, index_size=12)
    rows = [r for r in split if r["query_id"] in (1, 3)]
    result = custom_metric.compute(predictions=_perfect(rows), references=rows, queries=[3, 1],
                                   ranks=ranks[[3, 1]], index_size=12, num_queries=4)
    assert result["per_query"]["query_id"] == [3, 1]
    for k, q in enumerate((3, 1)):  # row k of the subset-shaped ranks is query queries[k]
        assert result["per_query"]["image_ap"][k] == full["per_query"]["image_ap"][q]
    assert result["image_map"] == pytest.approx(np.mean([full["per_query"]["image_ap"][q] for q in (1, 3)]))
    same = custom_metric.compute(predictions=_perfect(rows), references=rows, queries=[3, 1], ranks=ranks,
                                 index_size=12, num_queries=4)  # full-shaped ranks: rows are query ids
    assert same["image_map"] == result["image_map"]
    with pytest.raises(InputError, match="queries lists query 3 twice"):
        custom_metric.compute(predictions=_perfect(rows), references=rows, queries=[3, 1, 3], num_queries=4)


# ---------------------------------------------------------------- 2. custom on a benchmark's own references
def test_custom_config_on_a_benchmark_is_refused_by_names():
    facts = BENCHMARKS["proxford"]
    good = masks.encode(np.pad(np.ones((10, 12), np.uint8), ((6, 8), (10, 10))))
    rows = synthetic.split_rows(facts.query_names, facts.counts, facts.index_size, good)
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
            pixret.load_metric("custom").compute(predictions=_perfect(rows), references=rows)
        subset = [r for r in rows if r["query_id"] < 2]  # a subset is not the benchmark's lists: custom data
        assert pixret.load_metric("custom").compute(predictions=_perfect(subset), references=subset, queries=[0, 1],
                                                    num_queries=4)["miou_seg"] == 1.0
    finally:
        benchmarks.unregister("tinybench")


# ---------------------------------------------------------------- 3, 4. boxes in other conventions
CONVERT = {  # from the true [x, y, w, h] in pixels (W, H: image width, height) to each convention
    "[x1, y1, x2, y2]": lambda x, y, w, h, W, H: [x, y, x + w, y + h],
    "[cx, cy, w, h] (box centres)": lambda x, y, w, h, W, H: [x + w / 2, y + h / 2, w, h],
    "[y, x, h, w] (rows first)": lambda x, y, w, h, W, H: [y, x, h, w],
    "[y1, x1, y2, x2]": lambda x, y, w, h, W, H: [y, x, y + h, x + w],
    "[x, y, w, h] normalised to [0, 1]": lambda x, y, w, h, W, H: [x / W, y / H, w / W, h / H],
    "[cx, cy, w, h] normalised to [0, 1] (DETR / OWL-ViT output)":
        lambda x, y, w, h, W, H: [(x + w / 2) / W, (y + h / 2) / H, w / W, h / H],
    "[x1, y1, x2, y2] normalised to [0, 1]": lambda x, y, w, h, W, H: [x / W, y / H, (x + w) / W, (y + h) / H],
    "[y1, x1, y2, x2] normalised to [0, 1] (TensorFlow object detection)":
        lambda x, y, w, h, W, H: [y / H, x / W, (y + h) / H, (x + w) / W],
}


def _boxes(split, convert):
    out = []
    for row in split:
        if not row["positive"]:
            out.append(None)
            continue
        height, width = row["mask"]["size"]
        x, y, w, h = (float(v) for v in cocomask.toBbox(to_coco(row["mask"])))
        out.append({"bbox": convert(x, y, w, h, width, height)})
    return out


@pytest.mark.parametrize("convention", list(CONVERT))
def test_boxes_in_another_convention_are_named(splits, custom_metric, convention):
    split = splits["medium"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = custom_metric.compute(predictions=_boxes(split, CONVERT[convention]), references=split)
    assert f"the bboxes look like {convention}, not [x, y, w, h] in pixels" in _messages(caught)
    assert result["miou_det"] < 0.9  # scored as given: the warning is the only sign


def test_right_boxes_get_no_convention_warning(splits, custom_metric):
    split = splits["medium"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = custom_metric.compute(predictions=_boxes(split, lambda x, y, w, h, W, H: [x, y, w, h]),
                                       references=split)
    assert "look like" not in _messages(caught) and result["miou_det"] == pytest.approx(1.0)


def test_one_odd_box_does_not_hide_corners(splits, custom_metric):
    """A large majority decides: one box overshooting its image by 3 px and one degenerate one among corners."""
    split = splits["medium"]
    preds = _boxes(split, CONVERT["[x1, y1, x2, y2]"])
    given = [k for k, p in enumerate(preds) if p]
    preds[given[0]] = {"bbox": [60.0, 40.0, 67.0, 51.0]}  # past the 64 x 48 image by 3 px
    preds[given[1]] = {"bbox": [5.0, 5.0, 5.0, 9.0]}  # zero width
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        custom_metric.compute(predictions=preds, references=split)
    assert "the bboxes look like [x1, y1, x2, y2]" in _messages(caught)


def test_normalised_boxes_of_a_useless_method_are_still_named(splits, custom_metric):
    rng = np.random.default_rng(0)
    split = splits["medium"]
    preds = [{"bbox": rng.uniform(0, 0.2, 4).tolist()} if r["positive"] else None for r in split]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        custom_metric.compute(predictions=preds, references=split)
    assert "the bboxes look normalised to [0, 1]" in _messages(caught)


# ---------------------------------------------------------------- 10. the authors' mious.py, abstentions
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


# ---------------------------------------------------------------- 8. add_batch + compute = compute
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
    expected = custom_metric.compute(predictions=_perfect(split), references=split)
    frame = pandas.DataFrame(list(split))
    assert custom_metric.compute(predictions=pandas.DataFrame({"mask": [p and p["mask"] for p in _perfect(split)]}),
                                 references=frame) == expected
    streamed = load_dataset(str(tiny_dataset["out"]), "pairs", split="medium", streaming=True)
    assert custom_metric.compute(predictions=_perfect(split), references=streamed) == expected


# ---------------------------------------------------------------- 7. predictions no split holds
def _entries(split, shift=0):
    return [{"query_id": r["query_id"], "index_id": r["index_id"] + shift, "segmentation": r["mask"]}
            for r in split if r["positive"]]


def test_one_based_index_ids_are_an_error(tiny_dataset, splits, tmp_path, capsys):
    """A normal-looking table of nonsense is refused; --trust-ids (trust_ids=True) scores it, with the warning."""
    held = [r for r in splits["medium"] if r["index_id"] + 1 < 12]  # positives and junk, as a writer gives them
    entries = [{"query_id": r["query_id"], "index_id": r["index_id"] + 1, "bbox": [1.0, 1.0, 5.0, 5.0]} for r in held]
    (tmp_path / "p.json").write_text(json.dumps(entries))
    args = ["evaluate", "--dataset", str(tiny_dataset["out"]), "--predictions", str(tmp_path / "p.json")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'p.json'}: ") and err.count("\n") == 1
    assert "predictions are for pairs no evaluated split holds" in err and "with index_id - 1" in err
    assert "the ids look 1-based" in err and "pass --trust-ids if these ids are right" in err
    assert main(args + ["--trust-ids", "--resamples", "0"]) == 0
    err = capsys.readouterr().err
    assert "warning: " in err and "the ids look 1-based" in err
    from pixret.evaluation import evaluate_files
    from pixret.metric.evaluation import ShiftedIds

    with pytest.raises(ShiftedIds, match="pass trust_ids=True if these ids are right"):
        evaluate_files(str(tiny_dataset["out"]), tmp_path / "p.json")


def test_predictions_for_negatives_only_are_not_taken_for_shifted_ids(tiny_dataset, splits, tmp_path, capsys):
    """Predictions of negative pairs only: nothing is scored, said once in those terms (no "1-based", no "empty")."""
    held = {(r["query_id"], r["index_id"]) for s in splits.values() for r in s}
    sizes = open_dataset(str(tiny_dataset["out"])).index_sizes
    entries = [{"query_id": q, "index_id": i, "segmentation": masks.encode(np.ones(sizes[i], bool))}
               for q in range(4) for i in range(12) if (q, i) not in held]
    (tmp_path / "p.json").write_text(json.dumps(entries))
    assert main(["evaluate", "--dataset", str(tiny_dataset["out"]), "--predictions", str(tmp_path / "p.json"),
                 "--resamples", "0"]) == 0
    err = capsys.readouterr().err
    assert f"none of the {len(entries)} predictions is for a pair the evaluated splits hold: nothing is scored" in err
    assert "1-based" not in err and "empty" not in err


def test_negatives_among_the_predictions_are_counted(tiny_dataset, splits, tmp_path, capsys):
    entries = _entries(splits["medium"])
    held = {(r["query_id"], r["index_id"]) for r in splits["medium"]}
    negatives = [(q, i) for q in range(4) for i in range(12) if (q, i) not in held]
    size = entries[0]["segmentation"]["size"]
    empty = masks.encode(np.zeros(size, np.uint8))
    entries += [{"query_id": q, "index_id": i, "segmentation": empty} for q, i in negatives]
    (tmp_path / "p.json").write_text(json.dumps(entries))
    assert main(["evaluate", "--dataset", str(tiny_dataset["out"]), "--predictions", str(tmp_path / "p.json"),
                 "--protocols", "medium"]) == 0
    err = capsys.readouterr().err
    assert f"note: {len(negatives)} of {len(entries)} predictions are for pairs the evaluated splits do not hold" in err
    assert "1-based" not in err


# ---------------------------------------------------------------- 9. non-comparable rows
def test_compare_paper_marks_a_subset_and_the_unofficial_variant(tiny_dataset, splits, tmp_path, capsys):
    (tmp_path / "p.json").write_text(json.dumps(_entries(splits["medium"])))
    np.save(tmp_path / "r.npy", np.tile(np.arange(12), (4, 1)))
    base = ["evaluate", "--dataset", str(tiny_dataset["out"]), "--predictions", str(tmp_path / "p.json"),
            "--ranks", str(tmp_path / "r.npy"), "--compare-paper", "--name", "mine"]
    assert main(base + ["--queries", "2", "0"]) == 0
    out = capsys.readouterr().out
    assert "subset: figures over 2 queries only ([2, 0]), not the benchmark's figures" in out
    assert "mine (not comparable: on synthetic or custom data" in out  # the tiny build is custom data first
    assert main(base + ["--unofficial"]) == 0
    assert "unofficial variant (official=False)" in capsys.readouterr().out


# ---------------------------------------------------------------- files: pipes, damaged headers
def test_predictions_from_standard_input(tiny_dataset, splits):
    text = json.dumps(_entries(splits["medium"]))
    done = subprocess.run([sys.executable, "-c", "from pixret.cli import main; raise SystemExit(main())", "evaluate",
                           "--dataset", str(tiny_dataset["out"]),
                           "--predictions", "/dev/stdin", "--format", "json", "--protocols", "medium"],
                          input=text, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["medium"]["miou_seg"] == 1.0


@pytest.mark.parametrize("header", [b'"""' + b"{'descr': '<i8', 'fortran_order': False, 'shape': (4, 12), }",
                                    b"{'descr': '<i8', 'fortran_order': False, 'shape': (4, 12",
                                    b"{'descr': \"<i8, 'fortran_order': False, 'shape': (4, 12), }"])
def test_damaged_npy_header_is_one_line(tiny_dataset, splits, tmp_path, capsys, header):
    (tmp_path / "p.json").write_text(json.dumps(_entries(splits["medium"])))
    np.save(tmp_path / "r.npy", np.tile(np.arange(12), (4, 1)))
    raw = bytearray((tmp_path / "r.npy").read_bytes())
    length = int.from_bytes(raw[8:10], "little")
    raw[10:10 + length] = header.ljust(length - 1) + b"\n"
    (tmp_path / "r.npy").write_bytes(bytes(raw))
    code = main(["evaluate", "--dataset", str(tiny_dataset["out"]), "--predictions", str(tmp_path / "p.json"),
                 "--ranks", str(tmp_path / "r.npy")])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith(f"error: {tmp_path / 'r.npy'}: not a plain .npy array of index ids")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


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
