"""Bad input, table-driven: every case ends in a clear error (or a warning for legal but suspicious
input) naming the culprit, within 10 s; the tools end in one line on stderr and a non-zero exit code."""

from __future__ import annotations

import copy
import faulthandler
import json
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import pixret
from pixret import masks
from pixret.cli import main
from pixret.metric.core.benchmarks import BENCHMARKS

LIMIT_S = 10  # CPU seconds of the test's process: what a case costs, not how busy the machine is
HANG_S = 120  # wall-clock seconds


@pytest.fixture(autouse=True)
def guard():
    """Any case that hangs (even inside C code) kills the run with a traceback; any slow one fails."""
    faulthandler.dump_traceback_later(HANG_S, exit=True)
    start = time.process_time()
    yield
    faulthandler.cancel_dump_traceback_later()
    assert time.process_time() - start < LIMIT_S, f"a bad-input case took more than {LIMIT_S} CPU seconds"


# ---------------------------------------------------------------- a PROxford-shaped split, in memory
SIZE = [24, 32]
GOOD = masks.encode(np.pad(np.ones((10, 12), np.uint8), ((6, 8), (10, 10))))


def _base(refs, num_queries: int, index_size: int, options: dict) -> dict:
    preds = [{"mask": GOOD, "bbox": [10.0, 6.0, 12.0, 10.0]} if r["positive"] else None for r in refs]
    rng = np.random.default_rng(0)
    ranks = np.stack([rng.permutation(index_size) for _ in range(num_queries)])
    return {"refs": refs, "preds": preds, "ranks": ranks, "options": options}


@pytest.fixture(scope="module")
def bases(generators):
    """PROxford-shaped (its query names and list lengths: what the identity and coverage checks read) and a
    small custom split (4 queries, 12 index images) for everything else: quick to score."""
    facts = BENCHMARKS["proxford"]
    return {"proxford": _base(generators.split_rows(facts.query_names, facts.counts, facts.index_size, GOOD), 70,
                              facts.index_size, {}),
            "custom": _base(generators.split_rows([f"q{q}" for q in range(4)], [(3, 2, 1)] * 4, 12, GOOD), 4, 12,
                            {"index_size": 12, "num_queries": 4})}


@pytest.fixture(scope="module")
def metrics():
    return {"proxford": pixret.load_metric("proxford"), "custom": pixret.load_metric("custom")}


def _first_positive(refs) -> int:
    return next(k for k, r in enumerate(refs) if r["positive"])


def _set_pred(key, value):
    def mutate(case):
        k = _first_positive(case["refs"])
        case["preds"][k] = {**case["preds"][k], key: value}
    return mutate


def _set_mask(key, value):
    def mutate(case):
        k = _first_positive(case["refs"])
        case["preds"][k] = {"mask": {**GOOD, key: value}}
    return mutate


def _replace_pred(value):
    def mutate(case):
        case["preds"][_first_positive(case["refs"])] = value
    return mutate


def _set_ref(key, value, row=None):
    def mutate(case):
        k = _first_positive(case["refs"]) if row is None else row
        case["refs"][k] = {**case["refs"][k], key: value}
    return mutate


def _ranks(function):
    def mutate(case):
        case["ranks"] = function(case["ranks"])
    return mutate


def _all_preds(function):
    def mutate(case):
        case["preds"] = [None if p is None else function(p) for p in case["preds"]]
    return mutate


def _set(name, value):
    def mutate(case):
        case["options"][name] = value
    return mutate


def _duplicate(ranks):
    ranks = ranks.copy()
    ranks[3, 7] = ranks[3, 2]
    return ranks


def _pad(value, dtype=np.int64):
    def function(ranks):
        return np.concatenate([ranks.astype(dtype), np.full((len(ranks), 1), value, dtype)], 1)
    return function


PRED = r"predictions row 0 \(pair \(0, 0\)\)"
OX = "proxford"  # the case needs the PROxford-shaped split
RANKS = r"ranks row 0: "
ERROR, WARNING = "error", "warning"
METRIC_CASES = [
    # -- mask counts: exactly the bytes pycocotools gets are checked
    ("counts U+0101", _set_mask("counts", GOOD["counts"][:3] + "\u0101" + GOOD["counts"][3:]), ERROR,
     PRED + ": mask: RLE counts contain the non-ASCII character 'ā'"),
    ("counts CJK", _set_mask("counts", GOOD["counts"] + "\u4e2d"), ERROR, "non-ASCII character '中'"),
    ("counts emoji", _set_mask("counts", "\U0001f600" + GOOD["counts"]), ERROR, "non-ASCII"),
    ("counts NUL", _set_mask("counts", GOOD["counts"][:2] + "\x00" + GOOD["counts"][2:]), ERROR,
     PRED + ": mask: RLE counts are not a valid compressed string"),
    ("counts Latin-1", _set_mask("counts", GOOD["counts"] + "\xff"), ERROR, "non-ASCII character 'ÿ'"),
    ("counts 0xff byte", _set_mask("counts", GOOD["counts"].encode() + b"\xff"), ERROR, "not a valid compressed"),
    ("counts list", _set_mask("counts", [0, 5, 3]), ERROR, "uncompressed RLE: convert with pycocotools"),
    ("counts int", _set_mask("counts", 7), ERROR, "counts must be a compressed string"),
    ("counts None", _set_mask("counts", None), ERROR, "counts must be a compressed string"),
    ("counts cut", _set_mask("counts", GOOD["counts"][:-1]), ERROR, "RLE runs do not cover|not a valid"),
    ("counts short", _set_mask("counts", GOOD["counts"][:4]), ERROR, "RLE runs do not cover|not a valid"),
    ("counts 64-bit value", _set_mask("counts", "o" * 13 + "1"), ERROR, "not a valid compressed string"),
    ("counts past 2**32", _set_mask("counts", "oooooooo1"), ERROR, "not a valid compressed string"),
    ("counts space", _set_mask("counts", " " + GOOD["counts"]), ERROR, "not a valid compressed string"),
    # -- mask size and shape
    ("size None", _set_mask("size", None), ERROR, "RLE size must be \\[height, width\\] integers"),
    ("size 1", _set_mask("size", [24]), ERROR, "RLE size must be"),
    ("size 3", _set_mask("size", [24, 32, 3]), ERROR, "RLE size must be"),
    ("size strings", _set_mask("size", ["24", "32"]), ERROR, "RLE size must be"),
    ("size floats", _set_mask("size", [24.0, 32.0]), ERROR, "RLE size must be"),
    ("size negative", _set_mask("size", [-24, 32]), ERROR, "between 0 and"),
    ("size 2**31", _set_mask("size", [2**31, 1]), ERROR, "between 0 and"),
    ("size 2**40", _set_mask("size", [2**40, 2**40]), ERROR, "between 0 and"),
    ("size bool", _set_mask("size", [True, 32]), ERROR, "RLE size must be"),
    ("size other", _replace_pred({"mask": masks.encode(np.ones((32, 24), np.uint8))}), ERROR,
     PRED + r": mask size \[32, 24\] differs from the reference mask size \[24, 32\]"),
    ("mask string", _replace_pred({"mask": "abc"}), ERROR, "expected a COCO RLE dict"),
    ("mask polygon", _replace_pred({"mask": [[1, 2, 3, 4, 5, 6]]}), ERROR, "expected a COCO RLE dict"),
    # -- prediction dicts
    ("bare RLE", _replace_pred(GOOD), ERROR, PRED + ": this looks like a bare RLE"),
    ("misspelt key", _replace_pred({"msk": GOOD}), ERROR, PRED + ": unknown key 'msk'; accepted keys: mask"),
    ("misspelt segmentation", _replace_pred({"segmentaton": GOOD}), ERROR, "unknown key 'segmentaton'"),
    ("mask and segmentation", _replace_pred({"mask": GOOD, "segmentation": GOOD}), ERROR, "both 'mask' and"),
    ("COCO image_id", _replace_pred({"segmentation": GOOD, "image_id": 3}), ERROR, "unknown key 'image_id'"),
    ("prediction string", _replace_pred("mask"), ERROR, PRED + ": expected a dict"),
    ("prediction list", _replace_pred([GOOD]), ERROR, PRED + ": expected a dict"),
    ("prediction int", _replace_pred(3), ERROR, PRED + ": expected a dict"),
    ("bbox None inside", _set_pred("bbox", [1, None, 3, 4]), ERROR, PRED + ": bbox must be"),
    ("bbox 3 numbers", _set_pred("bbox", [1, 2, 3]), ERROR, PRED + ": bbox must be"),
    ("bbox nan", _set_pred("bbox", [1, float("nan"), 3, 4]), ERROR, "bbox has a missing value .NaN"),
    ("bbox inf", _set_pred("bbox", [1, 2, float("inf"), 4]), ERROR, "bbox must be"),
    ("bbox negative", _set_pred("bbox", [1, 2, -3, 4]), ERROR, "w, h >= 0"),
    ("bbox string", _set_pred("bbox", "1 2 3 4"), ERROR, "bbox must be"),
    ("bbox dict", _set_pred("bbox", {"x": 1}), ERROR, "bbox must be"),
    ("query_id mismatch", _set_pred("query_id", 5), ERROR, PRED + ": its query_id is 5 but the row is pair"),
    ("index_id mismatch", _set_pred("index_id", 99), ERROR, "its index_id is 99"),
    ("query_id text", _set_pred("query_id", "zero"), ERROR, "query_id must be an integer, got 'zero'"),
    ("fewer predictions", lambda c: c["preds"].pop(), ERROR, "23 predictions for 24 references"),
    ("more predictions", lambda c: c["preds"].append(None), ERROR, "25 predictions for 24"),
    ("no predictions", lambda c: c.update(preds=[]), ERROR, "0 predictions for 24"),
    # -- legal but probably a mistake: a warning saying what it looks like
    ("all None", _all_preds(lambda p: None), WARNING, "none of the 20 scored positive pairs has a prediction"),
    ("all empty masks", _all_preds(lambda p: {"mask": masks.encode(np.zeros(SIZE, np.uint8))}), WARNING,
     "every predicted mask \\(20\\) is empty"),
    ("xyxy boxes", _all_preds(lambda p: {"bbox": [10, 6, 22, 16]}), WARNING, "look like \\[x1, y1, x2, y2\\]"),
    ("some missing", lambda c: c["preds"].__setitem__(_first_positive(c["refs"]), None), WARNING,
     "1 of 20 scored positive pairs have no prediction"),
    ("box-only among masks", _replace_pred({"bbox": [10, 6, 12, 10]}), WARNING,
     "1 of 20 scored positive pairs have a bbox but no mask while 19 have a mask"),
    ("unlabelled positive", _set_ref("mask", None), WARNING, "1 positive pairs have no ground-truth mask"),
    ("ranks K=0", _ranks(lambda r: r[:, :0]), WARNING, "ranks have no columns"),
    # -- references
    ("references empty", lambda c: c.update(refs=[], preds=[]), ERROR, "references are empty"),
    ("reference lacks mask", lambda c: c["refs"][0].pop("mask"), ERROR, "references row 0: expected a row"),
    ("reference not a dict", lambda c: c["refs"].__setitem__(0, "row"), ERROR, "references row 0: expected a row"),
    ("query filtered out", lambda c: _keep(c, lambda r: r["query_id"] != 5), ERROR,
     r"references lack queries \[5\] \(69 of 70 queries of PROxford\)", OX),
    ("junk filtered out", lambda c: _keep(c, lambda r: r["positive"]), ERROR,
     "references hold 103 positive and 0 junk rows for query 0; PROxford medium has 103 and 33", OX),
    ("mixed protocols", _set_ref("positive", False, row=0), ERROR, "references mix protocols"),
    ("unknown difficulty", _set_ref("difficulty", "medium", row=0), ERROR, "references row 0: unknown difficulty"),
    ("positive text", _set_ref("positive", "true", row=0), ERROR, "references row 0: positive must be true or false"),
    ("query id 70", _set_ref("query_id", 70, row=0), ERROR, r"unknown query id 70 \(queries 0..69\)", OX),
    ("query id -1", _set_ref("query_id", -1, row=0), ERROR, "unknown query id -1"),
    ("query id 1.5", _set_ref("query_id", 1.5, row=0), ERROR, "references row 0: query_id must be an integer"),
    ("query id 2**63", _set_ref("query_id", 2**63, row=0), ERROR, "query_id must be an integer"),
    ("index id 4993", _set_ref("index_id", 4993, row=0), ERROR, r"unknown index id 4993 \(the index has 4993", OX),
    ("duplicate pair", lambda c: c["refs"].__setitem__(1, dict(c["refs"][0])), ERROR, "this pair appears twice"),
    ("other benchmark", lambda c: c.update(benchmark="prparis"), ERROR,
     "these references are PROxford .* load the metric with config 'proxford'", OX),
    ("no query_name", lambda c: [r.pop("query_name") for r in c["refs"]], ERROR,
     "references row 0: expected a row .*query_name", OX),
    ("custom names", lambda c: [r.update(query_name=f"q{r['query_id']}") for r in c["refs"]], ERROR,
     "query 0 is 'q0', but PROxford's query 0 is 'all_souls_000013'.*use the config 'custom'", OX),
    ("reference mask non-ASCII", _set_ref("mask", {**GOOD, "counts": GOOD["counts"] + "\u0101"}), ERROR,
     r"references row 0 \(pair \(0, 0\)\): mask: RLE counts contain the non-ASCII"),
    ("subset out of range", _set("queries", [3, 99]), ERROR, r"queries must be query ids 0..69", OX),
    ("subset mismatch", _set("queries", [3]), ERROR, "references do not hold exactly the queries asked for"),
    ("num_queries wrong", _set("num_queries", 69), ERROR, "num_queries=69, but PROxford has 70", OX),
    ("index_size wrong", _set("index_size", 5000), ERROR, "index_size=5000, but PROxford has 4993", OX),
    # -- ranks: memory and time bound by the index and K, never by an id's value
    ("1-based ranks", _ranks(lambda r: r + 1), ERROR,
     RANKS + r"index id 4993 is not in the index \(4993 images, ids 0..4992\). They look 1-based .* "
     "distractors=1001001", OX),
    ("1-based small", _ranks(lambda r: r + 1), ERROR, RANKS + r"index id 12 .* They look 1-based"),
    ("id = index size", _ranks(_pad(12)), ERROR, RANKS + "index id 12 is not in the index"),
    ("id 2**31-1", _ranks(_pad(2**31 - 1)), ERROR, RANKS + "index id 2147483647 is not in the index"),
    ("id 2**32-1", _ranks(_pad(2**32 - 1)), ERROR, "index id 4294967295 is not in the index"),
    ("id 2**40", _ranks(_pad(2**40)), ERROR, "index id 1099511627776"),
    ("uint64 2**63+5", _ranks(_pad(2**63 + 5, np.uint64)), ERROR, "index id 9223372036854775813"),
    ("negative id", _ranks(_pad(-1)), ERROR, RANKS + "negative index id -1"),
    ("duplicate id", _ranks(_duplicate), ERROR, "ranks row 3: index id .* appears twice"),
    ("duplicate distractor", lambda c: (c["options"].update(distractors=1001001),
                                        c.update(ranks=np.concatenate([c["ranks"], np.full((4, 2), 600000)], 1))),
     ERROR, "index id 600000 appears twice"),
    ("past distractors", lambda c: (c["options"].update(distractors=10), c.update(ranks=_pad(22)(c["ranks"]))),
     ERROR, "index id 22 is past the index .* and the 10 declared distractors"),
    ("huge distractors duplicate", lambda c: (c["options"].update(distractors=2**40),
                                              c.update(ranks=np.concatenate([c["ranks"], np.full((4, 2), 2**39)], 1))),
     ERROR, "index id 549755813888 appears twice"),
    ("float ranks", _ranks(lambda r: r.astype(float)), ERROR, "ranks must be integer index ids, got dtype float64 "
     r"\(if they hold whole numbers: ranks.astype\(np.int64\)\)"),
    ("bool ranks", _ranks(lambda r: r > 5), ERROR, "got dtype bool"),
    ("ragged ranks", _ranks(lambda r: [list(range(5)), list(range(4))] + [list(range(5))] * 2), ERROR,
     "rows of different lengths|must be a \\(num_queries, K\\) array"),
    ("1-D ranks", _ranks(lambda r: r[0]), ERROR, r"ranks must have shape \(num_queries=4, K\), got \(12,\)"),
    ("3-D ranks", _ranks(lambda r: r[:, :, None]), ERROR, "ranks must have shape"),
    ("69 rows", _ranks(lambda r: r[:69]), ERROR, r"got \(69, 4993\)", OX),
    ("revisitop layout", _ranks(lambda r: r.T), ERROR, "revisitop's \\(K, num_queries\\) layout: pass ranks.T"),
    ("ranks string", _ranks(lambda r: "0 1 2"), ERROR, "ranks must"),
    ("negative distractors", _set("distractors", -5), ERROR, "distractors must be a non-negative integer"),
    ("float distractors", _set("distractors", 1e6), ERROR, "distractors must be a non-negative integer"),
    ("distractors without ranks", lambda c: (c.update(ranks=None), c["options"].update(distractors=5)), ERROR,
     "distractors are declared but no ranks"),
    ("unknown argument", _set("rank", 5), ERROR, "unknown argument 'rank'; compute takes"),
    ("string query_id", _set_pred("query_id", "0"), ERROR, PRED + ": query_id must be an integer, got '0'"),
    ("bbox of strings", _set_pred("bbox", ["1", "2", "3", "4"]), ERROR, PRED + ": bbox must be"),
    ("bbox of bools", _set_pred("bbox", [True] * 4), ERROR, PRED + ": bbox must be"),
    ("bbox 10**400", _set_pred("bbox", [10**400, 0, 1, 1]), ERROR, PRED + ": bbox must be"),
    ("counts too long", _set_mask("counts", "0" * 10**6), ERROR, "RLE counts are longer .* than any RLE of a 24x32"),
    ("masked ranks", _ranks(lambda r: np.ma.masked_array(r, mask=r == 3)), ERROR, "ranks are a masked array"),
    ("square ranks", _ranks(lambda r: r[:, :4]), WARNING, r"ranks are square \(4 x 4\)"),
    ("queries empty", _set("queries", []), ERROR, "queries must be a non-empty list"),
    ("queries an int", _set("queries", 1), ERROR, "queries must be a non-empty list"),
    ("index_size float", _set("index_size", 12.5), ERROR, "index_size must be an integer >= 1, got 12.5"),
    ("num_queries huge", _set("num_queries", 10**12), ERROR, r"references lack queries \[4, 5,"),
    ("official text", _set("official", "no"), ERROR, "official must be True"),
    ("every box outside", _all_preds(lambda p: {"bbox": [1e9, 1e9, 10, 10]}), WARNING, "lie wholly outside"),
    ("every ground truth empty", lambda c: [r.update(mask=masks.encode(np.zeros(SIZE, np.uint8))) for r in c["refs"]
                                            if r["positive"]], WARNING, "every ground-truth mask .* is empty"),
    ("references a generator", lambda c: c.update(refs=iter(c["refs"]), preds=[None] * len(c["refs"])), WARNING,
     "none of the 20 scored positive pairs has a prediction"),
]


def _keep(case, keep):
    pairs = [(r, p) for r, p in zip(case["refs"], case["preds"]) if keep(r)]
    case["refs"], case["preds"] = [r for r, _ in pairs], [p for _, p in pairs]


@pytest.mark.parametrize("case", METRIC_CASES, ids=[c[0] for c in METRIC_CASES])
def test_metric_bad_input(bases, metrics, case):
    name, mutate, kind, message, which = (*case, "custom")[:5]
    base = bases[which]
    case = {"refs": copy.deepcopy(base["refs"]), "preds": list(base["preds"]), "ranks": base["ranks"],
            "options": dict(base["options"]), "benchmark": which}
    mutate(case)
    module = metrics.get(case["benchmark"]) or pixret.load_metric(case["benchmark"])
    call = dict(predictions=case["preds"], references=case["refs"], ranks=case["ranks"], **case["options"])
    if kind == ERROR:
        with pytest.raises(ValueError, match=message):
            module.compute(**call)
    else:
        with pytest.warns(UserWarning, match=message):
            module.compute(**call)


@pytest.mark.parametrize("bad, said", [({"bbox": [0, 0, -1, 1]}, "bbox must be [x, y, w, h] with w, h >= 0"),
                                       ({"query_id": 3, "index_id": 1}, "its query_id is 3 but the row is pair"),
                                       ({"mask": {**GOOD, "counts": GOOD["counts"] + "0"}}, "mask: RLE")])
def test_a_bad_prediction_is_named_by_its_own_row_and_pair(bases, metrics, bad, said):
    """Rows are named only once something is wrong (naming every row cost ~10% of a compute): the message still
    names the row that is, and its pair, not the first row nor a row before it."""
    base = bases["custom"]
    preds = list(base["preds"])
    rows = [k for k, r in enumerate(base["refs"]) if r["positive"] and preds[k] is not None]
    k = rows[len(rows) // 2]  # a row in the middle, after good ones
    preds[k] = bad
    pair = (base["refs"][k]["query_id"], base["refs"][k]["index_id"])
    assert k > 0 and pair != (3, 1)
    with pytest.raises(ValueError, match=re.escape(f"predictions row {k} (pair ({pair[0]}, {pair[1]})): {said}")):
        metrics["custom"].compute(predictions=preds, references=base["refs"], ranks=base["ranks"],
                                  **base["options"])


def test_legal_forms_of_input_are_accepted(bases, metrics):
    """numpy bytes for counts, a mix of numpy integer types for ids, tuples: the same figures, no warning."""
    base, metric = bases["custom"], metrics["custom"]
    expected = metric.compute(predictions=base["preds"], references=base["refs"], **base["options"])
    refs = [{**r, "index_id": np.uint64(r["index_id"]) if k % 2 else np.int64(r["index_id"])}
            for k, r in enumerate(base["refs"])]
    preds = [None if p is None else {"mask": {**p["mask"], "counts": np.bytes_(p["mask"]["counts"].encode())},
                                     "bbox": tuple(p["bbox"])} for p in base["preds"]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert metric.compute(predictions=preds, references=tuple(refs), **base["options"]) == expected


def test_good_ranks_forms_are_accepted(bases, metrics, tmp_path):
    """Lists of lists and memmaps are rankings too (the memmap is read in place)."""
    base, metric = bases["proxford"], metrics["proxford"]
    path = tmp_path / "ranks.npy"
    np.save(path, base["ranks"].astype(np.int32))
    expected = metric.compute(predictions=base["preds"], references=base["refs"], ranks=base["ranks"])
    for ranks in (np.load(path, mmap_mode="r"), base["ranks"][:, :50].tolist()):
        result = metric.compute(predictions=base["preds"], references=base["refs"], ranks=ranks)
        assert result["miou_seg"] == expected["miou_seg"] == 1.0
    assert 0 < expected["map_det"] < 68 / 70 + 1e-12


@settings(max_examples=60, deadline=None)  # bounded by guard (CPU seconds), not per example (wall-clock)
@given(field=st.sampled_from(["counts", "size", "bbox", "key", "query_id", "rank", "reference"]),
       text=st.text(min_size=1, max_size=6), number=st.integers(-2**64, 2**64), row=st.integers(0, 19))
def test_one_corrupted_field_never_passes_silently(bases, metrics, field, text, number, row):
    """Valid pieces with one field corrupted: an error or a warning, never a silent number, never a hang."""
    base = bases["custom"]
    refs, preds, ranks = base["refs"], list(base["preds"]), base["ranks"]
    k = [j for j, r in enumerate(refs) if r["positive"]][row]
    if field == "counts":  # a character outside '0'..'o' somewhere
        bad = "".join(c if not "0" <= c <= "o" else "~" for c in text)
        counts = GOOD["counts"]
        preds[k] = {"mask": {**GOOD, "counts": counts[: row % len(counts)] + bad + counts[row % len(counts):]}}
    elif field == "size":
        preds[k] = {"mask": {**GOOD, "size": [number, SIZE[1]] if number != SIZE[0] else [text, SIZE[1]]}}
    elif field == "bbox":
        preds[k] = {"bbox": [1, 2, -abs(number) - 1, 4] if row % 2 else [1, 2, 3, text]}
    elif field == "key":
        preds[k] = {"mask": GOOD, f"x{text}": 1}
    elif field == "query_id":
        preds[k] = {"mask": GOOD, "query_id": number if number != refs[k]["query_id"] else number + 1}
    elif field == "rank":
        number = max(number, -2**63)
        ranks = ranks.astype(np.uint64 if number >= 2**63 else np.int64)  # (both copy)
        ranks[row % 4, 3] = min(number, 2**64 - 1) if not 0 <= number < 12 else ranks[row % 4, 4]  # out of range, or a duplicate
    else:
        refs = [dict(r) for r in refs]
        refs[k]["mask"] = {**GOOD, "counts": GOOD["counts"] + (text if not text.isalnum() else "~")}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            metrics["custom"].compute(predictions=preds, references=refs, ranks=ranks, **base["options"])
        except ValueError:
            return
    assert caught, f"{field} corrupted, yet no error and no warning"


# ---------------------------------------------------------------- the tools, in process
@pytest.fixture(scope="module")
def files(tiny_dataset, tmp_path_factory):
    folder = tmp_path_factory.mktemp("files")
    medium = tiny_dataset["out"]
    from datasets import load_dataset

    split = load_dataset(str(medium), "pairs", split="medium")
    entries = [{"query_id": r["query_id"], "index_id": r["index_id"], "segmentation": r["mask"]}
               for r in split if r["mask"] is not None]
    (folder / "preds.json").write_text(json.dumps(entries))
    np.save(folder / "ranks.npy", np.tile(np.arange(12), (4, 1)))
    return {"dir": folder, "entries": entries, "dataset": str(medium)}


def _write(folder: Path, name: str, content) -> str:
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, np.ndarray):
        np.save(path, content, allow_pickle=True)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def _entries(files, change):
    entries = copy.deepcopy(files["entries"])
    change(entries)
    return entries


TOOL_CASES = [
    ("misspelt local dataset", lambda f: ["evaluate", "--dataset", str(Path(f["dir"]) / "datset"),
                                          "--predictions", f"{f['dir']}/preds.json"], "dataset folder not found"),
    ("relative missing dataset", lambda f: ["evaluate", "--dataset", "./no_such_dataset", "--predictions",
                                            f"{f['dir']}/preds.json"], "no_such_dataset: dataset folder not found"),
    ("nested missing dataset", lambda f: ["evaluate", "--dataset", "demo_output/dataset/x", "--predictions",
                                          f"{f['dir']}/preds.json"], "dataset folder not found"),
    ("dataset is a file", lambda f: ["evaluate", "--dataset", f"{f['dir']}/preds.json", "--predictions",
                                     f"{f['dir']}/preds.json"], "not a built dataset folder"),
    ("dataset foreign folder", lambda f: ["evaluate", "--dataset", str(f["dir"]), "--predictions",
                                          f"{f['dir']}/preds.json"], "not a built dataset folder"),
    ("predictions missing", lambda f: ["evaluate", "--dataset", f["dataset"], "--predictions", "nope.json"],
     "nope.json: predictions file not found"),
    ("predictions folder", lambda f: ["evaluate", "--dataset", f["dataset"], "--predictions", str(f["dir"])],
     "a folder, not a predictions file"),
    ("predictions empty", lambda f: ["evaluate", "--dataset", f["dataset"], "--predictions",
                                     _write(f["dir"], "empty.json", [])], "empty.json: holds no predictions"),
    ("predictions object", lambda f: ["evaluate", "--dataset", f["dataset"], "--predictions",
                                      _write(f["dir"], "obj.json", {"a": 1})], "expected a JSON list"),
    ("predictions not JSON", lambda f: ["evaluate", "--dataset", f["dataset"], "--predictions",
                                        _write(f["dir"], "bad.json", "[{")], "not valid JSON"),
    ("predictions binary", lambda f: ["evaluate", "--dataset", f["dataset"], "--predictions",
                                      _write(f["dir"], "bin.json", b"\xff\xfe\x00garbage")], "not valid JSON"),
    ("parquet corrupt", lambda f: ["evaluate", "--dataset", f["dataset"], "--predictions",
                                   _write(f["dir"], "bad.parquet", b"PAR1garbage")], "not a readable Parquet file"),
    ("parquet columns", lambda f: ["evaluate", "--dataset", f["dataset"], "--predictions", _parquet(f)],
     r"Parquet lacks the columns \['index_id'\]"),
    ("size null", lambda f: ["evaluate", "--dataset", f["dataset"], "--predictions", _write(
        f["dir"], "sn.json", _entries(f, lambda e: e[1]["segmentation"].update(size=None)))],
     r"sn.json: entry 1 \(pair .*\): segmentation: RLE size must be"),
    ("bbox null inside", lambda f: ["evaluate", "--dataset", f["dataset"], "--predictions", _write(
        f["dir"], "bn.json", _entries(f, lambda e: e[2].update(bbox=[1, None, 2, 3])))],
     r"bn.json: entry 2 \(pair .*\): bbox must be"),
    ("counts non-ASCII", lambda f: ["evaluate", "--dataset", f["dataset"], "--predictions", _write(
        f["dir"], "na.json", _entries(f, lambda e: e[0]["segmentation"].update(counts="\u0101")))],
     r"na.json: entry 0 \(pair .*\): segmentation: RLE counts contain the non-ASCII"),
    ("image_id instead of ids", lambda f: ["evaluate", "--dataset", f["dataset"], "--predictions", _write(
        f["dir"], "coco.json", [{"image_id": 1, "segmentation": f["entries"][0]["segmentation"], "score": 1}])],
     "entry 0: needs integer query_id and index_id .COCO's image_id"),
    ("ranks npz", lambda f: ["evaluate", "--dataset", f["dataset"], "--predictions", f"{f['dir']}/preds.json",
                             "--ranks", _npz(f)], "an .npz archive"),
    ("ranks pickle", lambda f: ["evaluate", "--dataset", f["dataset"], "--predictions", f"{f['dir']}/preds.json",
                                "--ranks", _write(f["dir"], "obj.npy", np.array([{"a": 1}], dtype=object))],
     "not a plain .npy array"),
    ("ranks missing", lambda f: ["evaluate", "--dataset", f["dataset"], "--predictions", f"{f['dir']}/preds.json",
                                 "--ranks", "none.npy"], "none.npy: ranks file not found"),
    ("ranks float", lambda f: ["evaluate", "--dataset", f["dataset"], "--predictions", f"{f['dir']}/preds.json",
                               "--ranks", _write(f["dir"], "f.npy", np.zeros((4, 12)))], "got dtype float64"),
    ("ranks 3-D", lambda f: ["evaluate", "--dataset", f["dataset"], "--predictions", f"{f['dir']}/preds.json",
                             "--ranks", _write(f["dir"], "r3.npy", np.zeros((4, 12, 2), int))], "must be 2-D"),
    ("ranks 1-based", lambda f: ["evaluate", "--dataset", f["dataset"], "--predictions", f"{f['dir']}/preds.json",
                                 "--ranks", _write(f["dir"], "r1.npy", np.tile(np.arange(1, 13), (4, 1)))],
     "They look 1-based"),
    ("per-query folder missing", lambda f: ["evaluate", "--dataset", f["dataset"], "--predictions",
                                            f"{f['dir']}/preds.json", "--per-query", "no/such/dir/pq.csv"],
     "--per-query no/such/dir/pq.csv: folder no/such/dir not found"),
    ("benchmark mismatch", lambda f: ["evaluate", "--dataset", f["dataset"], "--predictions",
                                      f"{f['dir']}/preds.json", "--benchmark", "prparis"],
     "--benchmark prparis, but .* is not one of the benchmarks"),
    ("distractors negative", lambda f: ["evaluate", "--dataset", f["dataset"], "--predictions",
                                        f"{f['dir']}/preds.json", "--distractors", "-1"], "--distractors must be"),
    ("distractors without ranks", lambda f: ["evaluate", "--dataset", f["dataset"], "--predictions",
                                             f"{f['dir']}/preds.json", "--distractors", "10"], "pass --ranks too"),
    ("queries out of range", lambda f: ["evaluate", "--dataset", f["dataset"], "--predictions",
                                        f"{f['dir']}/preds.json", "--queries", "99"], "queries must be query ids"),
    ("compare json", lambda f: ["evaluate", "--dataset", f["dataset"], "--predictions", f"{f['dir']}/preds.json",
                                "--compare-paper", "--format", "json"], "--compare-paper prints tables"),
    ("show missing dataset", lambda f: ["show", "--dataset", "nowhere/at/all", "--ranks", f"{f['dir']}/ranks.npy",
                                        "--output", f"{f['dir']}/g"], "dataset folder not found"),
    ("show top-k 0", lambda f: ["show", "--dataset", f["dataset"], "--ranks", f"{f['dir']}/ranks.npy", "--output",
                                f"{f['dir']}/g", "--top-k", "0"], "--top-k must be 1 to 100"),
    ("show output file", lambda f: ["show", "--dataset", f["dataset"], "--ranks", f"{f['dir']}/ranks.npy",
                                    "--output", f"{f['dir']}/preds.json", "--overwrite"], "is not a folder"),
    ("show ranks shape", lambda f: ["show", "--dataset", f["dataset"], "--ranks",
                                    _write(f["dir"], "r5.npy", np.zeros((5, 7), int)), "--output", f"{f['dir']}/g"],
     r"shape \(5, 7\) with 4 queries is neither"),
    ("export foreign folder", lambda f: ["export-coco", "--dataset", str(f["dir"]), "--output", f"{f['dir']}/c"],
     "not a built dataset folder"),
    ("export output exists", lambda f: ["export-coco", "--dataset", f["dataset"], "--output", str(f["dir"])],
     "exists and is not an earlier `pixret export-coco` output .it has no .pixret-output.json."),
    ("push missing folder", lambda f: ["push", "dataset", "no/such", "--repo-id", "a/b", "--dry-run"],
     "no/such: folder not found"),
    ("push metric without card", lambda f: ["push", "metric", str(f["dir"]), "--repo-id", "a/b", "--dry-run"],
     "README.md: no metric card"),
    ("push synthetic", lambda f: ["push", "dataset", f["dataset"], "--repo-id", "pixret/proxford", "--dry-run"],
     "upload it to a repo whose name says demo"),
    ("push repo id", lambda f: ["push", "dataset", f["dataset"], "--repo-id", "a/b/c", "--dry-run"],
     "--repo-id 'a/b/c'"),
    ("build labels missing", lambda f: ["build", "--benchmark", "proxford", "--labels", "no/such", "--output",
                                        f"{f['dir']}/o"], "no/such: release folder not found"),
    ("build archive garbage", lambda f: ["build", "--benchmark", "proxford", "--labels", f["release"], "--images",
                                         _write(f["dir"], "x.tgz", b"not gzip"), "--output", f"{f['dir']}/o"],
     "x.tgz: not a readable tar archive"),
    ("build gnd extension", lambda f: ["build", "--benchmark", "proxford", "--labels", f["release"], "--gnd",
                                       f"{f['dir']}/preds.json", "--output", f"{f['dir']}/o"],
     "expected revisitop's gnd_roxford5k.pkl or gnd_roxford5k.mat"),
    ("build gnd crafted", lambda f: ["build", "--benchmark", "proxford", "--labels", f["release"], "--gnd",
                                     _write(f["dir"], "g.pkl", _evil()), "--images", f["jpg"], "--output",
                                     f"{f['dir']}/o"],
     "g.pkl: not a plain-data pickle .refusing to load global"),
    ("build gnd mat garbage", lambda f: ["build", "--benchmark", "proxford", "--labels", f["release"], "--gnd",
                                         _write(f["dir"], "g.mat", b"MATLAB garbage"), "--images", f["jpg"],
                                         "--output", f"{f['dir']}/o"],
     "g.mat: not a MATLAB v5 gnd file"),
    ("build output exists", lambda f: ["build", "--benchmark", "proxford", "--labels", f["release"], "--output",
                                       f["dataset"]], "exists; pass --overwrite"),
    ("build num-proc 0", lambda f: ["build", "--benchmark", "proxford", "--labels", f["release"], "--output",
                                    f"{f['dir']}/o", "--num-proc", "0"], "--num-proc must be at least 1"),
    ("show output is the dataset", lambda f: ["show", "--dataset", f["dataset"], "--ranks", f"{f['dir']}/ranks.npy",
                                              "--output", f["dataset"], "--overwrite"],
     "is or holds the input .*: replacing it would destroy it"),
    ("export output holds the dataset", lambda f: ["export-coco", "--dataset", f["dataset"], "--output",
                                                   str(Path(f["dataset"]).parent), "--overwrite"],
     "is or holds the input"),
    ("build output is the release", lambda f: ["build", "--benchmark", "proxford", "--labels", f["release"],
                                               "--output", f["release"], "--overwrite"], "is or holds the input"),
    ("per-query over the predictions", lambda f: ["evaluate", "--dataset", f["dataset"], "--predictions",
                                                  f"{f['dir']}/preds.json", "--per-query", f"{f['dir']}/preds.json"],
     "--per-query .* is or holds the input"),
    ("plots inside the dataset", lambda f: ["evaluate", "--dataset", f["dataset"], "--predictions",
                                            f"{f['dir']}/preds.json", "--plots", f"{f['dataset']}/plots"],
     "--plots .* is inside the input"),
    ("string ids in results", lambda f: ["evaluate", "--dataset", f["dataset"], "--predictions", _write(
        f["dir"], "sid.json", _entries(f, lambda e: e[0].update(query_id="0")))], "entry 0: query_id must be an integer, got '0'"),
    ("demo output file", lambda f: ["demo", "--small", "--output", f"{f['dir']}/preds.json"],
     "preds.json exists and is not a folder"),
    ("demo foreign folder", lambda f: ["demo", "--small", "--output", str(f["dir"])],
     "is not an earlier `pixret demo` output"),
    ("unknown flag", lambda f: ["evaluate", "--datset", "x"], "unrecognized arguments|required"),
]


def _parquet(files) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(files["dir"]) / "cols.parquet"
    pq.write_table(pa.table({"query_id": [0]}), path)
    return str(path)


def _npz(files) -> str:
    path = Path(files["dir"]) / "ranks.npz"
    np.savez(path, ranks=np.tile(np.arange(12), (4, 1)))
    return str(path)


def _evil() -> bytes:
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    return pickle.dumps({"gnd": [], "imlist": [], "qimlist": [], "x": Evil()})


@pytest.mark.parametrize("name, argv, message", TOOL_CASES, ids=[c[0] for c in TOOL_CASES])
def test_tool_bad_input(files, tiny_dataset, capsys, monkeypatch, name, argv, message):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing here may reach for the Hub
    files = {**files, "release": str(tiny_dataset["root"]),
             "jpg": str(tiny_dataset["root"] / "revisitop/data/roxford5k/jpg")}
    code = main(argv(files))
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code != 0
    assert err.startswith("error: ") and "Traceback" not in captured.err, captured.err
    assert len(err.splitlines()) == 1, err
    assert __import__("re").search(message, err), err
    assert not (Path(files["dir"]) / "o").exists() and not (Path(files["dir"]) / "g").exists()


def test_commands_that_took_a_traceback_or_forever(tiny_dataset, tmp_path, capsys):
    ranks = tmp_path / "r.npy"
    np.save(ranks, np.tile(np.arange(12), (4, 1)))
    assert main(["show", "--dataset", str(tiny_dataset["out"]), "--ranks", str(ranks), "--output",
                 str(tmp_path / "g"), "--top-k", "100000000000"]) == 1
    assert "--top-k must be 1 to 100" in capsys.readouterr().err
    assert main(["show", "--dataset", str(tiny_dataset["out"]), "--ranks", str(ranks), "--output",
                 str(tmp_path / "g"), "--top-k", "20", "--queries", "0"]) == 0
    assert "--top-k 20, but the rankings hold 12 images per query: showing those" in capsys.readouterr().err
    assert main(["demo", "--seed", "-1", "--output", str(tmp_path / "d")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --seed must be 0 to") and "bug" not in err
    assert main(["evaluate", "--dataset", "", "--predictions", str(ranks)]) == 1
    assert "the dataset is empty: name a built dataset folder or a Hub id" in capsys.readouterr().err


# ---------------------------------------------------------------- real processes
def _run(args, **kw):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    return subprocess.run(args, capture_output=True, text=True, timeout=120, env=env, **kw)


def test_command_exit_codes_and_one_line(tiny_dataset, tmp_path):
    (tmp_path / "preds.json").write_text("[]")
    result = _run(["pixret", "evaluate", "--dataset", str(tmp_path / "nope"), "--predictions", str(tmp_path / "preds.json")])
    assert result.returncode == 1 and result.stderr == f"error: {tmp_path / 'nope'}: dataset folder not found\n"
    tool = Path(__file__).resolve().parents[1] / "tools" / "evaluate_results.py"
    result = _run([sys.executable, str(tool), "--dataset", str(tiny_dataset["out"]), "--predictions", "x.json"])
    assert result.returncode == 1 and result.stderr == "error: x.json: predictions file not found\n"
    result = _run(["pixret", "build", "--benchmark", "nowhere"])
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: argument --benchmark: invalid choice")


def test_interrupted_build_writes_nothing(tiny_dataset, tmp_path, holding):
    out = tmp_path / "out"
    argv = ["pixret", "build", "--benchmark", "proxford", "--labels", str(tiny_dataset["root"]), "--output", str(out)]
    with holding.Held(argv, "outputs.staged", env={**os.environ, "PYTHONWARNINGS": "ignore"}) as held:
        assert held.wait() == "outputs.staged#1"  # held with its staging folder made: the build is writing
        assert [p.name[:5] for p in tmp_path.iterdir()] == [".out."]
        held.process.send_signal(signal.SIGINT)
        held.go()
        code, stdout, stderr = held.finish()
    assert code == 130, (stdout, stderr)
    assert stderr.strip() == "interrupted: nothing was written (the partial build was removed)"
    assert list(tmp_path.iterdir()) == []


def test_hub_prefix_where_a_folder_shadows_the_owner(tmp_path, monkeypatch, capsys):
    """A clone of pixret has a pixret/ folder: pixret/proxford there is a (missing) path, hub: says Hub."""
    from pixret.dataset import looks_local

    monkeypatch.chdir(tmp_path)
    (tmp_path / "pixret").mkdir()
    assert looks_local("pixret/proxford") and not looks_local("hub:pixret/proxford")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "p.json").write_text("[]")
    assert main(["evaluate", "--dataset", "pixret/proxford", "--predictions", "p.json"]) == 1
    assert "write hub:pixret/proxford" in capsys.readouterr().err
    assert main(["evaluate", "--dataset", "hub:pixret/proxford", "--predictions", "p.json"]) == 1
    assert "pixret/proxford: cannot reach the Hub" in capsys.readouterr().err
