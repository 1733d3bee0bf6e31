"""Bootstrap intervals and paired comparisons over queries (pixret.metric.core.uncertainty) and `pixret compare`.

Hand-computed cases; the drop / ignore rules under resampling against a literal loop (hypothesis); the point
estimates against the metric's own figures on real evaluations of built datasets; the command end to end.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from datasets import load_dataset
from hypothesis import given, settings, strategies as st
from PIL import Image

import pixret
from pixret import masks, synthetic
from pixret.build import build
from pixret.cli import main
from pixret.evaluation import evaluate_files
from pixret.metric.core import benchmarks, uncertainty
from pixret.metric.core.benchmarks import Benchmark, lists_digest
from pixret.metric.core.errors import InputError

PROXFORD_IGNORED = (56, 63)


def _result(query_ids, **per_query) -> dict:
    return {"per_query": {"query_id": list(query_ids), **per_query}}


# ---------------------------------------------------------------- by hand
def test_pixel_map_resamples_by_hand():
    """3 queries, 2 thresholds; query 63 is on PROxford's ignore list; query 0 is dropped at the second t."""
    result = _result([0, 1, 63], ap_det=[[1.0, None], [0.5, 0.25], [None, None]], miou_det=[0.2, 0.4, 0.9])
    draws = np.array([[0, 0, 2], [0, 0, 0], [1, 1, 1], [2, 2, 2]])
    counts = uncertainty.resample_counts(draws)
    assert counts.tolist() == [[2, 0, 1], [3, 0, 0], [0, 3, 0], [0, 0, 3]]
    official = uncertainty.figure_terms(result, "proxford", official=True)
    # t1: (1 + .5 + 0) / 3; t2: (.25 + 0) / 2 (query 0 dropped, 63 ignored: 0 in the denominator)
    assert official["map_det"].point() == (0.5 + 0.125) / 2
    # [0, 0, 63]: t1 (1 + 1 + 0) / 3, t2 0 / 1; [0, 0, 0]: t1 1, t2 nobody counts: 0; [63, 63, 63]: 0
    assert official["map_det"].resampled(counts) == pytest.approx([(2 / 3 + 0) / 2, 0.5, (0.5 + 0.25) / 2, 0.0])
    unofficial = uncertainty.figure_terms(result, "proxford", official=False)
    assert unofficial["map_det"].point() == (0.75 + 0.25) / 2  # 63 leaves the denominator
    assert unofficial["map_det"].resampled(counts) == pytest.approx([0.5, 0.5, 0.375, 0.0])
    # the ignore list is pixel mAP's only: mean mIoU counts query 63 like the others
    assert official["miou_det"].resampled(counts) == pytest.approx([1.3 / 3, 0.2, 0.4, 0.9])
    assert official["map_det"].per_query() == pytest.approx([0.5, 0.375, np.nan], nan_ok=True)


def test_sign_flip_p_values_counted_by_hand():
    """Differences +.3, +.2, -.1: of the 8 sign patterns, |sum| >= .4 for (+,+,+), (+,+,-) and their negatives."""
    a = _result([0, 1, 2], miou_det=[0.5, 0.5, 0.5], image_ap=[0.4, 0.5, 0.6])
    b = _result([0, 1, 2], miou_det=[0.2, 0.3, 0.6], image_ap=[0.3, 0.4, 0.5])
    comparison = uncertainty.compare(a, b, "custom")
    assert comparison["miou_det"].difference == pytest.approx(0.4 / 3)
    assert (comparison["miou_det"].p_value, comparison["miou_det"].exact) == (4 / 8, True)
    # all three +.1: only (+,+,+) and (-,-,-) reach |.3|
    assert (comparison["image_map"].p_value, comparison["image_map"].exact) == (2 / 8, True)
    assert comparison["miou_det"].a_better == ((0, pytest.approx(0.3)), (1, pytest.approx(0.2)))
    assert comparison["miou_det"].b_better == ((2, pytest.approx(-0.1)),)
    assert uncertainty.compare(a, a, "custom")["miou_det"].p_value == 1.0


def test_sign_flip_is_monte_carlo_for_many_differing_queries():
    """20 queries all better in A: 2^20 swaps are too many to count; 2 of them are as extreme as the data."""
    a = _result(range(20), miou_det=[0.6] * 20)
    b = _result(range(20), miou_det=[0.5] * 20)
    difference = uncertainty.compare(a, b, "custom", resamples=2000)["miou_det"]
    assert not difference.exact
    assert difference.p_value == pytest.approx(1 / 2001, abs=3 / 2001)  # (1 + hits) / (1 + draws), hits ~ 0
    assert difference.interval == pytest.approx((0.1, 0.1))


def test_pixel_map_difference_is_not_a_mean_of_differences():
    """A query dropped for one method and not the other changes the denominators: the swap moves its status."""
    a = _result([0, 1], ap_det=[[0.8], [None]])
    b = _result([0, 1], ap_det=[[0.2], [0.4]])
    difference = uncertainty.compare(a, b, "custom")["map_det"]
    assert difference.difference == pytest.approx(0.8 - 0.3)
    # swaps: none +.5; query 0: (.2 - (.8 + .4) / 2) = -.4; query 1: (.8 + .4) / 2 - .2 = +.4; both: 0.4 - 0.8
    assert difference.p_value == 2 / 4
    assert difference.per_query == pytest.approx([0.6, -0.4])  # dropped counts 0 in a query's own AP


# ---------------------------------------------------------------- the rules under resampling, against a loop
def _literal(ap, miou, ignored, official, rows):
    """mAP and mean mIoU of each resample, one query at a time, as official-evaluation.md words the rules."""
    maps, mious = [], []
    for row in rows:
        per_threshold = []
        for t in range(len(ap[0])):
            total, count = 0.0, 0
            for q in row:
                if ignored[q]:
                    count += official  # adds 0, stays in the denominator (official)
                elif ap[q][t] is not None:  # else: no positive above t, dropped from this threshold
                    total, count = total + ap[q][t], count + 1
            per_threshold.append(total / count if count else 0.0)
        maps.append(sum(per_threshold) / len(per_threshold))
        valid = [miou[q] for q in row if miou[q] is not None]
        mious.append(sum(valid) / len(valid) if valid else 0.0)
    return maps, mious


_value = st.one_of(st.none(), st.floats(0, 1))


def _rows(draw, ids, thresholds):
    """APs at ``thresholds`` thresholds (all None for an ignored query) and mIoUs of the queries ``ids``."""
    ap = [[None] * thresholds if q in PROXFORD_IGNORED else draw(st.lists(_value, min_size=thresholds,
                                                                         max_size=thresholds)) for q in ids]
    return ap, draw(st.lists(_value, min_size=len(ids), max_size=len(ids)))


@st.composite
def _per_query(draw, methods: int = 1):
    """A subset of PROxford's query ids (56 and 63 are ignored) and, per method, APs at T thresholds and mIoUs."""
    ids = sorted(draw(st.sets(st.sampled_from([0, 1, 2, 7, 56, 63, 69]), min_size=1)))
    thresholds = draw(st.integers(1, 4))
    return ids, *[_rows(draw, ids, thresholds) for _ in range(methods)]


@pytest.mark.filterwarnings("ignore:.*resamples. 95% intervals from fewer:UserWarning")  # small on purpose
@settings(max_examples=60, deadline=None)
@given(_per_query(), st.booleans(), st.integers(0, 2**32))
def test_resampled_figures_follow_the_rules(data, official, seed):
    ids, (ap, miou) = data
    result = _result(ids, ap_det=ap, miou_det=miou)
    drawn = uncertainty.bootstrap(result, "proxford", official, seed, resamples=40)
    ignored = [q in PROXFORD_IGNORED for q in ids]
    rows = uncertainty.resample_indices(len(ids), 40, seed)
    maps, mious = _literal(ap, miou, ignored, official, rows)
    assert drawn["map_det"][1] == pytest.approx(maps, abs=1e-12)
    assert drawn["miou_det"][1] == pytest.approx(mious, abs=1e-12)
    (point_map,), (point_miou,) = _literal(ap, miou, ignored, official, [range(len(ids))])
    assert drawn["map_det"][0] == pytest.approx(point_map, abs=1e-12)
    assert drawn["miou_det"][0] == pytest.approx(point_miou, abs=1e-12)


@pytest.mark.filterwarnings("ignore:.*resamples. 95% intervals from fewer:UserWarning")  # small on purpose
@settings(max_examples=40, deadline=None)
@given(_per_query(methods=2), st.booleans())
def test_exact_p_value_enumerates_every_swap(data, official):
    """The exact sign-flip p-value equals a literal enumeration of the 2^Q swaps of the two methods' rows."""
    ids, (ap_a, miou_a), (ap_b, miou_b) = data
    count = len(ids)
    a, b = _result(ids, ap_det=ap_a, miou_det=miou_a), _result(ids, ap_det=ap_b, miou_det=miou_b)
    comparison = uncertainty.compare(a, b, "proxford", official, resamples=10)
    for figure, key, rows_a, rows_b in (("map_det", "ap_det", ap_a, ap_b), ("miou_det", "miou_det", miou_a, miou_b)):
        statistics = []
        for swap in itertools.product((False, True), repeat=count):
            swapped_a = [rb if s else ra for s, ra, rb in zip(swap, rows_a, rows_b)]
            swapped_b = [ra if s else rb for s, ra, rb in zip(swap, rows_a, rows_b)]
            statistics.append(
                uncertainty.figure_terms(_result(ids, **{key: swapped_a}), "proxford", official)[figure].point()
                - uncertainty.figure_terms(_result(ids, **{key: swapped_b}), "proxford", official)[figure].point())
        observed = abs(statistics[0])
        expected = sum(abs(s) >= observed - 1e-9 for s in statistics) / len(statistics)
        assert comparison[figure].exact and comparison[figure].p_value == pytest.approx(expected)


# ---------------------------------------------------------------- determinism, inputs
@pytest.mark.filterwarnings("ignore:.*resamples. 95% intervals from fewer:UserWarning")  # small on purpose
def test_a_seed_decides_every_draw():
    rng = np.random.default_rng(5)
    a = _result(range(70), miou_det=rng.random(70).tolist(), ap_det=rng.random((70, 10)).tolist())
    b = _result(range(70), miou_det=rng.random(70).tolist(), ap_det=rng.random((70, 10)).tolist())
    first = uncertainty.compare(a, b, "custom", seed=3, resamples=500)
    again = uncertainty.compare(a, b, "custom", seed=3, resamples=500)
    other = uncertainty.compare(a, b, "custom", seed=4, resamples=500)
    for figure in ("miou_det", "map_det"):
        assert (first[figure].samples == again[figure].samples).all()
        assert first[figure].p_value == again[figure].p_value and not first[figure].exact
        assert (first[figure].samples != other[figure].samples).any()
        # the paired draws are those of intervals() with the same seed
        assert first[figure].a_interval == uncertainty.intervals(a, "custom", seed=3, resamples=500)[figure]
    assert uncertainty.intervals(a, "custom", seed=3) == uncertainty.intervals(a, "custom", seed=3)


@pytest.mark.parametrize("result, benchmark, message", [
    ({"miou_det": 0.5}, "custom", "needs per_query figures with query_id"),
    (_result([], miou_det=[]), "custom", "the result has no queries"),
    (_result([0, 1], miou_det=[[0.5, 0.1], [0.2, 0.3]]), "custom", "miou_det: one value per query expected, got 2"),
    (_result([0, 1], miou_det=[0.5]), "custom", "miou_det has 1 entries for 2 queries"),
    (_result([0, 1], miou_det=[0.5, 1.5]), "custom", "query 1 has a value outside"),
    (_result([0, 1], miou_det=[0.5, "x"]), "custom", "values must be numbers or None"),
    (_result([0, 1], ap_det=[[0.5, 0.2], [0.1]]), "custom", "different numbers of values"),
    (_result([0, 56], ap_det=[[0.5], [0.4]]), "proxford", "query 56 has APs but proxford ignores it"),
    (_result([0], miou_det=[0.5]), "roxford", "unknown benchmark 'roxford'"),
])
def test_bad_results_are_refused(result, benchmark, message):
    with pytest.raises(InputError, match=message):
        uncertainty.intervals(result, benchmark)


def test_bad_options_are_refused():
    result = _result([0, 1], miou_det=[0.5, 0.6])
    for resamples in (0, 2.5, 10**7):
        with pytest.raises(InputError, match="resamples must be a whole number from 1 to 1,000,000"):
            uncertainty.intervals(result, "custom", resamples=resamples)
    with pytest.raises(InputError, match="seed must be a non-negative integer"):
        uncertainty.intervals(result, "custom", seed=-1)
    with pytest.raises(InputError, match="level must be between 0 and 1"):
        uncertainty.intervals(result, "custom", level=95)
    with pytest.warns(UserWarning, match="50 resamples: 95% intervals from fewer than 1,000 are rough"):
        uncertainty.intervals(result, "custom", resamples=50)
    with pytest.raises(InputError, match="not on the same queries"):
        uncertainty.compare(result, _result([0, 2], miou_det=[0.5, 0.6]), "custom")


# ---------------------------------------------------------------- real evaluations of built datasets
def _predictions(split, shift: int, seed: int, boxes: bool = False) -> list:
    """Ground-truth masks moved sideways by up to ``shift`` pixels (some IoUs fall below the thresholds)."""
    rng = np.random.default_rng(seed)
    out = []
    for row in split:
        if row["mask"] is None:
            out.append(None)
            continue
        moved = np.roll(masks.decode(row["mask"]), int(rng.integers(-shift, shift + 1)), axis=1)
        out.append({"mask": masks.encode(moved), **({"bbox": [2.0, 2.0, 30.0, 20.0]} if boxes else {})})
    return out


def _ranks(num_queries: int, index_size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(index_size) for _ in range(num_queries)])


@pytest.fixture(scope="module")
def ignoring(tmp_path_factory):
    """A registered benchmark of 6 queries whose pixel mAP ignores query 2, built from a tiny release."""
    gnd = synthetic.tiny_gnd(num_queries=6, seed=3)
    gnd["qimlist"] = [f"ignoring_{q}" for q in range(6)]
    facts = Benchmark(
        name="ignoring", pretty_name="PRIgnoring", revisitop_name="rignoring", revisitop_pretty="Revisited Ignoring",
        label_prefix="ignoring", images=("ignoring.tgz",), images_url="https://example.org/ignoring",
        images_source="made-up pictures, for the test", query_names=tuple(gnd["qimlist"]),
        index_size=len(gnd["imlist"]), counts=tuple((len(g["easy"]), len(g["hard"]), len(g["junk"]))
                                                    for g in gnd["gnd"]),
        ignored_queries=(2,), gnd_sha256=lists_digest(*([g[k] for g in gnd["gnd"]] for k in ("easy", "hard", "junk"))),
        paper_tables=None)
    benchmarks.register(facts)
    try:
        base = tmp_path_factory.mktemp("ignoring")
        synthetic.write_tiny_release(base / "release", benchmark="ignoring", gnd=gnd)
        build("ignoring", base / "release", base / "out")
        yield base / "out"
    finally:
        benchmarks.unregister("ignoring")


@pytest.mark.parametrize("official", [True, False])
def test_point_estimates_equal_the_metric_with_an_ignore_list(ignoring, official):
    metric = pixret.load_metric("ignoring")
    for protocol, shift in (("medium", 6), ("hard", 12)):
        split = load_dataset(str(ignoring), "pairs", split=protocol)
        result = metric.compute(predictions=_predictions(split, shift, 1, boxes=protocol == "hard"), references=split,
                                ranks=_ranks(6, 12, 2), official=official)
        result = json.loads(json.dumps(result))  # as a file or the Space would hand it over
        ap = result["per_query"]["ap_det"]
        assert all(v is None for v in ap[2])  # the ignored query
        assert any(v is None for row in ap[:2] + ap[3:] for v in row)  # some query dropped at some threshold
        terms = uncertainty.figure_terms(result, "ignoring", official)
        assert set(terms) == {"miou_det", "miou_seg", "map_det", "map_seg", "image_map", "image_mp@1",
                              "image_mp@5", "image_mp@10"}
        for figure, figure_terms in terms.items():
            assert figure_terms.point() == result[figure], (protocol, figure)  # exactly
        for figure, (low, high) in uncertainty.intervals(result, "ignoring", official, resamples=2000).items():
            assert low <= result[figure] <= high, (protocol, figure)
    assert uncertainty.figure_terms(result, "ignoring", official)["map_det"].counted[2].all() == official


def _proxford_split(protocol: str, rng) -> tuple[list, list]:
    """A PROxford-shaped split in memory (its 70 query names and list lengths, made-up ids and small masks), and
    predictions: the ground-truth rectangle moved by a random amount (IoUs spread over the thresholds)."""
    facts = benchmarks.BENCHMARKS["proxford"]
    truth = np.zeros((24, 32), np.uint8)
    truth[4:16, 6:22] = 1
    rows, predictions = [], []
    for q, (name, counts) in enumerate(zip(facts.query_names, facts.counts)):
        kinds = [kind for kind, count in zip(("easy", "hard", "junk"), counts) for _ in range(count)]
        for i, kind in enumerate(kinds):
            positive = kind in benchmarks.POSITIVE_DIFFICULTIES[protocol]
            rows.append({"query_id": q, "index_id": (q * 37 + i * 11) % facts.index_size, "query_name": name,
                         "difficulty": kind, "positive": positive,
                         "mask": None if kind == "junk" else masks.encode(truth)})
            moved = np.roll(truth, (int(rng.integers(-3, 4)), int(rng.integers(-6, 7))), axis=(0, 1))
            predictions.append({"mask": masks.encode(moved)} if positive else None)
    return rows, predictions


@pytest.mark.parametrize("protocol", ["easy", "hard"])
def test_point_estimates_equal_the_metric_on_70_queries(protocol):
    """The whole benchmark's shape, its ignore list (56, 63) and, in easy, queries without positives (11, 66)."""
    rng = np.random.default_rng(6)
    rows, predictions = _proxford_split(protocol, rng)
    ranks = np.stack([rng.permutation(benchmarks.BENCHMARKS["proxford"].index_size) for _ in range(70)])
    for q, query_rows in enumerate([[r for r in rows if r["query_id"] == q] for q in range(70)]):
        listed = [r["index_id"] for r in query_rows]  # to the top of the ranking, shuffled: APs of all sizes
        rest = ranks[q][~np.isin(ranks[q], listed)]
        ranks[q] = np.concatenate([rng.permutation(np.concatenate([listed, rest[:len(listed)]])), rest[len(listed):]])
    result = pixret.load_metric("proxford").compute(predictions=predictions, references=rows, ranks=ranks)
    assert (result["per_query"]["image_ap"][11] is None) == (protocol == "easy")
    for figure, figure_terms in uncertainty.figure_terms(result, "proxford").items():
        assert figure_terms.point() == result[figure], figure  # to the last bit
    assert uncertainty.figure_terms(result, "proxford")["map_det"].ignored.nonzero()[0].tolist() == [56, 63]


def test_point_estimates_equal_the_metric_on_custom_data(tiny_dataset, custom_metric):
    split = load_dataset(str(tiny_dataset["out"]), "pairs", split="medium")
    result = custom_metric.compute(predictions=_predictions(split, 8, 4), references=split, ranks=_ranks(4, 12, 5),
                                   index_size=12)
    for figure, figure_terms in uncertainty.figure_terms(result, "custom").items():
        assert figure_terms.point() == result[figure], figure
    bands = uncertainty.intervals(result, "custom")
    assert all(low <= result[figure] <= high for figure, (low, high) in bands.items())
    assert bands["miou_seg"][0] < bands["miou_seg"][1]  # 4 queries: far from certain


# ---------------------------------------------------------------- pixret compare
@pytest.fixture
def two_methods(tiny_dataset, tmp_path):
    """Two result sets of the tiny dataset as files: A localises better than B, with other rankings."""
    out = tiny_dataset["out"]
    medium = load_dataset(str(out), "pairs", split="medium")
    paths = {}
    for name, shift, seed in (("good", 3, 1), ("rough", 10, 2)):
        entries = [{"query_id": r["query_id"], "index_id": r["index_id"], "segmentation": p["mask"]}
                   for r, p in zip(medium, _predictions(medium, shift, seed)) if p is not None]
        (tmp_path / f"{name}.json").write_text(json.dumps(entries))
        np.save(tmp_path / f"{name}.npy", _ranks(4, 12, seed))
        paths[name] = tmp_path / f"{name}.json", tmp_path / f"{name}.npy"
    return {"dataset": str(out), "dir": tmp_path, **paths}


def test_compare_help(capsys):
    assert main(["--help"]) == 0 and "differences, p-values" in capsys.readouterr().out
    assert main(["compare", "--help"]) == 0 and "--resamples RESAMPLES" in capsys.readouterr().out


def test_compare_end_to_end(two_methods, capsys):
    (good, good_ranks), (rough, rough_ranks) = two_methods["good"], two_methods["rough"]
    base = ["compare", "--dataset", two_methods["dataset"], "--predictions", str(good), str(rough),
            "--ranks", str(good_ranks), str(rough_ranks), "--resamples", "3000", "--seed", "7"]
    assert main(base + ["--format", "json", "--plots", str(two_methods["dir"] / "plots")]) == 0
    captured = capsys.readouterr()
    printed = json.loads(captured.out)
    assert printed["names"] == ["good", "rough"] and printed["seed"] == 7
    scored = [evaluate_files(two_methods["dataset"], p, r).results for p, r in (two_methods["good"], two_methods["rough"])]
    for protocol in ("medium", "hard"):
        figures = printed["protocols"][protocol]["figures"]
        assert list(figures) == ["miou_det", "miou_seg", "map_det", "map_seg", "image_map", "image_mp@1",
                                 "image_mp@5", "image_mp@10"]
        bands = uncertainty.intervals(scored[0][protocol], "custom", seed=7, resamples=3000)
        for figure, shown in figures.items():
            assert shown["a"] == scored[0][protocol][figure] and shown["b"] == scored[1][protocol][figure]
            assert tuple(shown["a_interval"]) == bands[figure]
            assert shown["difference"] == pytest.approx(shown["a"] - shown["b"])
            assert shown["interval"][0] <= shown["difference"] <= shown["interval"][1]
            assert 0 < shown["p_value"] <= 1 and shown["p_exact"]  # 4 queries: 16 swaps, counted
        mious = figures["miou_seg"]
        assert mious["difference"] > 0.05 and mious["p_value"] == 2 / 16  # better on every query
        assert len(mious["a_better"]) == 4 and mious["b_better"] == []
        assert [f["difference"] for f in mious["a_better"]] == sorted((f["difference"] for f in mious["a_better"]),
                                                                    reverse=True)
        assert mious["a_better"][0]["query_name"].startswith("query_")
    assert sorted(p.name for p in (two_methods["dir"] / "plots").iterdir() if p.name != ".pixret-output.json") == [
        "bootstrap_hard.png", "bootstrap_medium.png", "differences_hard.png", "differences_medium.png"]
    assert Image.open(two_methods["dir"] / "plots" / "differences_medium.png").size[0] >= 600

    assert main(base + ["--names", "A", "B", "--protocols", "medium"]) == 0
    text = capsys.readouterr().out
    assert "A = A (" in text and "4 queries, 3,000 paired bootstrap resamples" in text
    row = next(line for line in text.splitlines() if line.startswith("mIoU S"))
    assert f"{100 * printed['protocols']['medium']['figures']['miou_seg']['a']:.2f} [" in row and "0.125 exact" in row
    assert "mIoU S, queries better by more than 5 points (A - B): in A: " in text and "; in B: none" in text
    assert main(base + ["--format", "markdown", "--margin", "90"]) == 0
    markdown = capsys.readouterr().out
    assert "### hard" in markdown and "| figure | good | rough | good - rough | p |" in markdown
    assert "- mAP det, queries better by more than 90 points (A - B): in good: none; in rough: none" in markdown


def test_compare_box_only_method_and_warnings_name_the_method(two_methods, capsys):
    good = two_methods["good"][0]
    boxes = [{"query_id": e["query_id"], "index_id": e["index_id"], "bbox": [1, 1, 20, 15]}
             for e in json.loads(good.read_text())]
    (two_methods["dir"] / "boxes.json").write_text(json.dumps(boxes[:-1]))  # and one pair without a prediction
    assert main(["compare", "--dataset", two_methods["dataset"], "--predictions", str(good),
                 str(two_methods["dir"] / "boxes.json"), "--protocols", "medium"]) == 0
    captured = capsys.readouterr()
    assert "not compared: mIoU S (boxes has none)" in captured.out
    assert "warning: boxes: medium: 1 of 20 scored positive pairs have no prediction" in captured.err


def test_compare_same_file_twice_warns(two_methods, capsys):
    good, ranks = two_methods["good"]
    assert main(["compare", "--dataset", two_methods["dataset"], "--predictions", str(good), str(good), "--ranks",
                 str(ranks), str(ranks), "--format", "json", "--resamples", "500"]) == 0
    captured = capsys.readouterr()
    assert (f"warning: A and B are the same results ({good} and {good}, {ranks} and {ranks} hold the same bytes): "
            "every difference is 0") in captured.err
    figures = json.loads(captured.out)["protocols"]["medium"]["figures"]
    assert all(f["difference"] == 0 and f["p_value"] == 1 and f["interval"] == [0, 0] for f in figures.values())
    assert json.loads(captured.out)["names"] == ["A", "B"]  # the same stem and folder: plain A and B


@pytest.fixture(scope="module")
def other_benchmark(tmp_path_factory):
    """A built dataset of other queries (6, not the tiny dataset's 4)."""
    base = tmp_path_factory.mktemp("other")
    synthetic.write_tiny_release(base / "release", gnd=synthetic.tiny_gnd(num_queries=6, seed=9))
    build("proxford", base / "release", base / "out")
    return base / "out"


@pytest.mark.parametrize("case, argv, message", [
    ("different benchmarks", lambda f: ["--dataset", f["dataset"], f["other"], "--predictions", f["good"], f["rough"]],
     r"the two datasets are not the same benchmark: .* is custom data \(4 queries, 12 index images\), .* is custom "
     r"data \(6 queries, 12 index images\)"),
    ("one missing ranks", lambda f: ["--dataset", f["dataset"], "--predictions", f["good"], f["rough"], "--ranks",
                                     f["good_ranks"]],
     r"--ranks takes two files \(pixel mAP needs both methods' rankings\), A's then B's; got 1"),
    ("one predictions file", lambda f: ["--dataset", f["dataset"], "--predictions", f["good"]],
     "--predictions takes two files, A's then B's; got 1"),
    ("three datasets", lambda f: ["--dataset", f["dataset"], f["dataset"], f["dataset"], "--predictions", f["good"],
                                  f["rough"]], "--dataset takes one dataset, or two"),
    ("one name twice", lambda f: ["--dataset", f["dataset"], "--predictions", f["good"], f["rough"], "--names", "x",
                                  "x"], "the two methods need different names, got 'x' twice"),
    ("no resamples", lambda f: ["--dataset", f["dataset"], "--predictions", f["good"], f["rough"], "--resamples", "0"],
     "--resamples must be from 1 to 1,000,000, got 0"),
    ("negative margin", lambda f: ["--dataset", f["dataset"], "--predictions", f["good"], f["rough"], "--margin",
                                   "-1"], "--margin must be 0 or more points"),
    ("B's file missing", lambda f: ["--dataset", f["dataset"], "--predictions", f["good"], f["dir"] + "/nope.json"],
     "nope.json: predictions file not found"),
    ("B's predictions not of this dataset", lambda f: ["--dataset", f["dataset"], "--predictions", f["good"],
                                                       f["foreign"]],
     r"foreign.json: entry 0 \(pair \(5, 0\)\): unknown query_id 5 \(the dataset has 4 queries"),
    ("B's ranks not of this dataset", lambda f: ["--dataset", f["dataset"], "--predictions", f["good"], f["rough"],
                                                 "--ranks", f["good_ranks"], f["foreign_ranks"]],
     r"foreign.npy: shape \(6, 12\) with 4 queries is neither"),
    ("plots into an input", lambda f: ["--dataset", f["dataset"], "--predictions", f["good"], f["rough"], "--plots",
                                       f["dataset"]], "--plots .* is or holds the input"),
])
def test_compare_bad_input_ends_in_one_line(two_methods, other_benchmark, capsys, monkeypatch, case, argv, message):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (two_methods["dir"] / "foreign.json").write_text(json.dumps([{"query_id": 5, "index_id": 0, "bbox": [0, 0, 4, 4]}]))
    np.save(two_methods["dir"] / "foreign.npy", _ranks(6, 12, 0))
    files = {"dataset": two_methods["dataset"], "other": str(other_benchmark), "dir": str(two_methods["dir"]),
             "good": str(two_methods["good"][0]), "rough": str(two_methods["rough"][0]),
             "good_ranks": str(two_methods["good"][1]), "foreign": str(two_methods["dir"] / "foreign.json"),
             "foreign_ranks": str(two_methods["dir"] / "foreign.npy")}
    code = main(["compare", *argv(files)])
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 1 and captured.out == ""
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert __import__("re").search(message, err), err


def test_compare_names_authors_files_by_method(tiny_dataset, medium, tmp_path, capsys):
    for method in ("m1", "m2"):
        folder = tmp_path / method / "matching_result"
        folder.mkdir(parents=True)
        points = {f"qimlist_{r['query_id']}_imlist_{r['index_id']}": np.array([[1, 1], [30, 1], [30, 20]])
                  for r in medium if r["positive"]}
        np.save(folder / "proxford.npy", np.array(points, dtype=object), allow_pickle=True)
    assert main(["compare", "--dataset", str(tiny_dataset["out"]), "--predictions",
                 str(tmp_path / "m1/matching_result/proxford.npy"), str(tmp_path / "m2/matching_result/proxford.npy"),
                 "--resamples", "1000", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["names"] == ["m1", "m2"]
