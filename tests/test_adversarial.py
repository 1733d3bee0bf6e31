"""A second adversarial pass: each case a review found giving a wrong number, losing a file or a traceback."""

from __future__ import annotations

import json
import time
import warnings

import numpy as np
import pytest
from datasets import load_dataset

from pixret import geometry, masks
from pixret.cli import main
from pixret.metric.views import tables
from pixret.metric.core.errors import InputError
from pixret.metric.core.predictions import parse_prediction, Where


@pytest.fixture(scope="module")
def medium(tiny_dataset):
    return load_dataset(str(tiny_dataset["out"]), "pairs", split="medium")


def _perfect(split):
    return [{"mask": r["mask"]} if r["positive"] else None for r in split]


def _caught(function) -> str:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        function()
    return "\n".join(str(w.message) for w in caught)


def _entries(split, dq=0, di=0):
    return [{"query_id": r["query_id"] + dq, "index_id": r["index_id"] + di, "segmentation": r["mask"]}
            for r in split if r["positive"]]


# ---------------------------------------------------------------- rankings
def test_one_based_ids_in_a_truncated_ranking_are_named(medium, custom_metric):
    """No id reaches the index size in a top-K ranking, so the id check cannot see 1-based ids: the top can."""
    rng = np.random.default_rng(0)
    ranks = []
    for q in range(4):
        relevant = [r["index_id"] for r in medium if r["query_id"] == q]
        others = [i for i in rng.permutation(11) if i not in relevant]  # never id 11: no id reaches 12
        ranks.append(np.array(relevant + others)[:5] + 1)  # the relevant first, then shifted by one
    text = _caught(lambda: custom_metric.compute(predictions=_perfect(medium), references=medium,
                                                 ranks=np.array(ranks), index_size=12))
    assert "the ranks look 1-based: with every id - 1" in text
    right = np.array([np.argsort(rng.random(12)) for _ in range(4)])
    assert "1-based" not in _caught(lambda: custom_metric.compute(predictions=_perfect(medium), references=medium,
                                                                  ranks=right, index_size=12))


def test_distractors_declared_but_absent_are_named(medium, custom_metric):
    text = _caught(lambda: custom_metric.compute(predictions=_perfect(medium), references=medium,
                                                 ranks=np.tile(np.arange(12), (4, 1)), index_size=12,
                                                 distractors=1001001))
    assert "1001001 distractors are declared, but no ranks row holds an id past the index" in text


def test_queries_as_a_set_and_every_query_in_another_order(medium, custom_metric):
    with pytest.raises(InputError, match="queries must be a list: a set has no order"):
        custom_metric.compute(predictions=_perfect(medium), references=medium, queries={0, 1, 2, 3})
    ranks = np.tile(np.arange(12), (4, 1))
    text = _caught(lambda: custom_metric.compute(predictions=_perfect(medium), references=medium, queries=[3, 2, 1, 0],
                                                 ranks=ranks, index_size=12))
    assert "queries lists every query, in another order than their ids" in text
    every = custom_metric.compute(predictions=_perfect(medium), references=medium, queries=[0, 1, 2, 3])
    assert "subset" not in every  # every query is the benchmark's figure, not a subset


# ---------------------------------------------------------------- predictions
def test_one_based_query_ids_are_named(tiny_dataset, medium, tmp_path, capsys):
    entries = [e for e in _entries(medium, dq=1) if e["query_id"] < 4]  # query 4 would be an error (below)
    (tmp_path / "p.json").write_text(json.dumps(entries))
    assert main(["evaluate", "--dataset", str(tiny_dataset["out"]), "--predictions", str(tmp_path / "p.json"),
                 "--resamples", "0"]) == 0
    assert "no prediction names query 0, while the split's queries start there" in capsys.readouterr().err
    (tmp_path / "p.json").write_text(json.dumps(_entries(medium, dq=1)))
    assert main(["evaluate", "--dataset", str(tiny_dataset["out"]), "--predictions", str(tmp_path / "p.json")]) == 1
    assert "unknown query_id 4 (the dataset has 4 queries, ids 0..3): the id equals the count, as 1-based ids end" \
        in capsys.readouterr().err


def test_authors_keys_one_based_are_named(tiny_dataset, medium, tmp_path, capsys):
    points = {}
    for r in medium:
        if r["positive"] and r["query_id"] < 3 and r["index_id"] < 11:
            points[f"qimlist_{r['query_id'] + 1}_imlist_{r['index_id'] + 1}"] = np.array([[1, 1], [30, 1], [30, 20]])
    np.save(tmp_path / "proxford.npy", np.array(points, dtype=object), allow_pickle=True)
    assert main(["evaluate", "--dataset", str(tiny_dataset["out"]), "--predictions", str(tmp_path / "proxford.npy"),
                 "--resamples", "0"]) == 0
    assert "the ids of the keys look 1-based" in capsys.readouterr().err


def test_pandas_missing_values(medium, custom_metric):
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"mask": [r["mask"] for r in medium], "bbox": [float("nan")] * len(medium)})
    frame.loc[[k for k, r in enumerate(medium) if not r["positive"]], "mask"] = float("nan")
    assert custom_metric.compute(predictions=frame, references=medium)["miou_seg"] == 1.0  # NaN: no value
    with pytest.raises(InputError, match=r"bbox has a missing value \(NaN, as pandas writes a missing number\)"):
        parse_prediction({"bbox": [1.0, float("nan"), 2.0, 2.0]}, Where("row 0"))


def test_an_npy_named_json_is_named(tiny_dataset, tmp_path, capsys):
    np.save(tmp_path / "p.npy", np.array({"qimlist_0_imlist_1": []}, dtype=object), allow_pickle=True)
    (tmp_path / "p.npy").rename(tmp_path / "p.json")
    assert main(["evaluate", "--dataset", str(tiny_dataset["out"]), "--predictions", str(tmp_path / "p.json")]) == 1
    assert "p.json: a NumPy .npy file, not JSON (the authors' matching result?" in capsys.readouterr().err


# ---------------------------------------------------------------- boxes
def _true_boxes(split):
    from pycocotools import mask as cocomask

    from pixret.metric.core.rle import to_coco

    return [None if not r["positive"] else [float(v) for v in cocomask.toBbox(to_coco(r["mask"]))] for r in split]


def test_detr_boxes_with_whole_image_fallbacks_are_named(medium, custom_metric):
    """DETR's normalised centres, with one box in eight the whole image in pixels: a pattern, still named."""
    preds = []
    for k, box in enumerate(_true_boxes(medium)):
        if box is None:
            preds.append(None)
            continue
        x, y, w, h = box
        preds.append({"bbox": [0.0, 0.0, 64.0, 48.0] if k % 8 == 0 else [(x + w / 2) / 64, (y + h / 2) / 48, w / 64,
                                                                          h / 48]})
    text = _caught(lambda: custom_metric.compute(predictions=preds, references=medium))
    assert "the bboxes look like [cx, cy, w, h] normalised to [0, 1] (DETR / OWL-ViT output)" in text


def test_boxes_at_another_scale_are_named(medium, custom_metric):
    preds = [None if box is None else {"bbox": [v * 0.5 for v in box]} for box in _true_boxes(medium)]
    text = _caught(lambda: custom_metric.compute(predictions=preds, references=medium))
    assert "the bboxes look scaled by 0.5 x 0.5 (made on images resized by that much?)" in text


# ---------------------------------------------------------------- outputs
def test_a_file_saved_into_the_output_meanwhile_is_kept(tmp_path):
    """The output is checked again when it is swapped in: what appeared there meanwhile is never deleted."""
    from pixret import outputs

    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(outputs.OutputExists, match="changed while the command ran, so nothing was replaced"):
        with outputs.staged_folder(target, command="show") as tmp:
            (tmp / "index.html").write_text("new")
            (target / "notes.txt").write_text("mine")  # the user saves a file there during the run
    assert (target / "notes.txt").read_text() == "mine" and not (target / "index.html").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staged folder left


def test_eval_results_are_written_last_and_outputs_apart(tiny_dataset, medium, tmp_path, capsys):
    (tmp_path / "p.json").write_text(json.dumps(_entries(medium)))
    base = ["evaluate", "--dataset", str(tiny_dataset["out"]), "--predictions", str(tmp_path / "p.json")]
    assert main(base + ["--seed", "-5"]) == 1
    assert "--seed must be 0 or more, got -5" in capsys.readouterr().err
    assert main(base + ["--plots", str(tmp_path / "same"), "--eval-results", str(tmp_path / "same")]) == 1
    assert "--plots" in (err := capsys.readouterr().err) and "is or holds another output" in err
    assert not (tmp_path / "same").exists()


def test_compare_paper_for_a_protocol_the_paper_does_not_report(tiny_dataset, medium, custom_metric):
    result = custom_metric.compute(predictions=_perfect(medium), references=medium)
    comparison = tables.compare("proxford", {"easy": result}, "mine", 1)
    assert any("the paper reports medium and hard; your figures are for easy" in note for note in comparison.notes)


def test_markdown_cells_keep_a_bar_in_a_name(medium, custom_metric):
    result = custom_metric.compute(predictions=_perfect(medium), references=medium)
    text = tables.compare("proxford", {"medium": result}, "my|method", 1).render("markdown")
    row = next(line for line in text.splitlines() if "my" in line)
    assert "my\\|method" in row and row.count(" | ") == text.splitlines()[2].count(" | ")


# ---------------------------------------------------------------- the release, the tools
def test_a_circle_with_a_far_rim_is_bounded():
    start = time.process_time()  # CPU time: what the work costs, however busy the machine is
    polygon = geometry.circle([10.0, 10.0], [10.0 + 1e15, 10.0])
    assert len(polygon) <= geometry.CIRCLE_SIDES and np.isfinite(polygon).all()
    assert masks.area(geometry.rasterise_in_image([polygon], 48, 64)) == 48 * 64  # it covers the image
    assert masks.area(masks.from_polygons([np.array([[0, 0], [5e9, 0], [0, 5e9]])], 48, 64)) == 48 * 64
    assert time.process_time() - start < 5
    small = geometry.circle([20.0, 20.0], [30.0, 20.0])  # still within 0.05 px of the circle
    assert np.allclose(np.linalg.norm(small - 20.0, axis=1), 10.0)


def test_duplicate_keys_in_release_files(tmp_path):
    from pixret.release import ReleaseError, load_pair2label, read_label

    label = tmp_path / "a.json"
    label.write_text('{"shapes": [], "shapes": [{"points": [[1, 1], [5, 1], [5, 5]], "shape_type": "polygon"}]}')
    with pytest.raises(ReleaseError, match="an object has the key 'shapes' twice"):
        read_label(label)
    np.save(tmp_path / "oxford_pair2labelpath.npy", np.array({"0_2": "a.json", "00_2": "b.json"}, dtype=object),
            allow_pickle=True)
    with pytest.raises(ReleaseError, match=r"entry '00_2' names pair \(0, 2\) again"):
        load_pair2label(tmp_path / "oxford_pair2labelpath.npy")


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
