"""Results people look at: figures read back, the paper comparison, the gallery's per-query figures."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from datasets import load_dataset
from PIL import Image

from pixret.cli import main
from pixret.evaluation import evaluate_files
from pixret.metric.views import analysis, plots, tables
from pixret.metric.core.figures import FIGURES
from pixret.metric.views.tables import PAPER

pytestmark = pytest.mark.xdist_group("plots")  # one worker: the module's fixtures are built once


@pytest.fixture(scope="module")
def evaluated(tiny_dataset, tmp_path_factory):
    """A method with varied localisation: ground truth shifted by a different amount per pair."""
    folder = tmp_path_factory.mktemp("method")
    import json

    from pixret import masks

    rng = np.random.default_rng(7)
    entries = []
    for row in load_dataset(str(tiny_dataset["out"]), "pairs", split="medium"):
        if row["mask"] is None:
            continue
        shifted = np.roll(masks.decode(row["mask"]), int(rng.integers(0, 12)), axis=1)
        entries.append({"query_id": row["query_id"], "index_id": row["index_id"], "segmentation": masks.encode(shifted)})
    (folder / "preds.json").write_text(json.dumps(entries))
    np.save(folder / "ranks.npy", np.stack([rng.permutation(12) for _ in range(4)]))
    evaluation = evaluate_files(str(tiny_dataset["out"]), folder / "preds.json", folder / "ranks.npy")
    return {"results": evaluation.results, "data": evaluation.truth, "folder": folder}


def test_map_curve_mean_is_the_reported_map(evaluated):
    figure = plots.map_vs_threshold(evaluated["results"])
    for ax, (protocol, result) in zip(figure.axes, evaluated["results"].items()):
        lines = {line.get_label().split(":")[0]: line for line in ax.get_lines()}
        for iou in ("det", "seg"):
            assert np.mean(lines[iou].get_ydata()) / 100 == pytest.approx(result[f"map_{iou}"], abs=1e-9)
            assert list(lines[iou].get_xdata()) == pytest.approx(np.arange(50, 100, 5) / 100)


def test_png_size_and_curve_pixels(evaluated, tmp_path):
    figure = plots.map_vs_threshold(evaluated["results"])
    path = tmp_path / "curve.png"
    figure.savefig(path)
    image = np.asarray(Image.open(path).convert("RGB"))
    width, height = (figure.get_size_inches() * figure.dpi).round().astype(int)
    assert image.shape[:2] == (height, width)
    ax = figure.axes[0]
    line = next(line for line in ax.get_lines() if line.get_label().startswith("seg"))
    for x, y in zip(line.get_xdata(), line.get_ydata()):
        px, py = ax.transData.transform((x, y))
        patch = image[height - int(round(py)) - 2: height - int(round(py)) + 3, int(round(px)) - 2: int(round(px)) + 3]
        assert (patch.astype(int).sum(axis=2) < 3 * 250).any()  # not background where the curve is
    assert (image.reshape(-1, 3) == 255).all(axis=1).mean() > 0.5  # mostly background elsewhere


def test_breakdown_bars_count_every_positive(evaluated):
    figure, counts = plots.breakdown_bars(evaluated["results"], k=5)
    ax = figure.axes[0]
    heights = {}
    for patch in ax.patches:
        heights.setdefault(round(patch.get_x(), 6), []).append(patch.get_height())
    positives = {p: len(r["per_pair"]["query_id"]) for p, r in evaluated["results"].items()}
    for (key, row), bars in zip(counts.items(), heights.values()):
        assert sum(bars) == sum(row[c] for c in analysis.CATEGORIES) == positives[key.split()[0]]
    # retrieved in the top 5 or not: the first category is exactly the positives ranked 5th or lower
    medium = evaluated["results"]["medium"]["per_pair"]
    assert counts["medium seg"]["not retrieved"] == sum(1 for p in medium["position"] if p < 0 or p >= 5)


def test_negatives_above_median_positive():
    # positives at junk-adjusted positions 0, 3, 4 -> median positive at 3, with 1 positive above it: 2 negatives
    assert analysis.negatives_above_median(np.array([4, 0, 3, -1])) == 2
    assert analysis.negatives_above_median(np.array([-1, -1])) == 0


def test_per_query_bars_and_histograms(evaluated):
    result = evaluated["results"]["medium"]
    names = evaluated["data"].query_names
    figure = plots.per_query_bars(result, names, "medium")
    bars = [patch.get_height() for patch in figure.axes[0].patches]
    assert bars == sorted(bars) and len(bars) == 4  # lowest first, one per query
    assert sorted(bars) == pytest.approx(sorted(100 * v for v in result["per_query"]["miou_seg"]))
    labels = [t.get_text() for t in figure.axes[0].get_xticklabels()]
    assert all(any(label.endswith(n) for n in names) for label in labels)
    histogram = plots.iou_histograms(evaluated["results"])
    counted = sum(patch.get_height() for patch in histogram.axes[0].patches)
    assert counted == 2 * len(result["per_pair"]["iou_seg"])  # det and seg of every positive


def test_compare_with_the_paper_rows(evaluated):
    results = evaluated["results"]
    comparison = tables.compare("proxford", results, "mine", 1)
    with open(PAPER / "table1_mean_miou.csv") as f:
        paper = list(csv.DictReader(line for line in f if not line.startswith("#")))
    assert len(comparison.rows) == len(paper) + 1
    mine = comparison.rows[comparison.user_rank]
    assert mine[:2] == ["(yours)", "mine"] and mine[2] == f"{100 * results['medium']['miou_det']:.1f}"
    above = [float(r["proxford_medium_D"]) for r in paper if float(r["proxford_medium_D"]) >= float(mine[2])]
    assert comparison.user_rank == len(above)
    printed = {(r[0], r[1]): r[2:] for r in comparison.rows}
    for row in paper:  # every paper row, as printed
        assert printed[row["family"], row["method"]] == [row[f"proxford_{p}_{k}"] for p in ("medium", "hard")
                                                         for k in "DS"]
    table2 = tables.compare("prparis", results, "mine", 2, r1m=True)
    mine = table2.rows[table2.user_rank]
    assert mine[2:4] == ["", ""] and mine[4] != ""  # R1M figures go to the R1M columns, the others stay empty
    assert not any(r[1] == "Image level mAP" for r in table2.rows)


def test_your_row_is_ranked_by_the_first_column_or_put_last():
    printed = [["f", "a", "50.0"], ["f", "b", "33."], ["f", "c", ""], ["f", "d", "61.2"]]
    rows, rank = tables._ranked(printed, ["(yours)", "me", "50.0"], 2)
    assert [r[1] for r in rows] == ["d", "a", "me", "b", "c"] and rank == 2  # after a tie; "33." ranked as 33.0
    rows, rank = tables._ranked(printed, ["(yours)", "me", "70.0"], 2, ranked=False)
    assert [r[1] for r in rows] == ["d", "a", "b", "c", "me"] and rank == 4  # not the paper's kind: last
    assert tables._ranked(printed, ["(yours)", "me", ""], 2)[1] == 4  # no figure in the column: last


def test_show_links_each_query_to_its_figures(tiny_dataset, evaluated, tmp_path):
    folder = evaluated["folder"]
    assert main(["show", "--dataset", str(tiny_dataset["out"]), "--ranks", str(folder / "ranks.npy"),
                 "--predictions", str(folder / "preds.json"), "--output", str(tmp_path / "g"), "--name", "shift"]) == 0
    page = (tmp_path / "g" / "index.html").read_text()
    assert "<title>shift: top-8 per query (medium)</title>" in page
    for q in range(4):
        assert f'href="q{q:03d}_figures.png"' in page
        figure = Image.open(tmp_path / "g" / f"q{q:03d}_figures.png")
        assert figure.size[0] > 600


def test_caption_font_is_readable(tiny_dataset, evaluated, tmp_path):
    from pixret import report

    tile = report.tile(Image.new("RGB", (report.THUMB, 100), "white"), report.JUNK, ["#1  id 3", "junk"])
    dark = np.asarray(tile.convert("L"))[100 + 2 * report.FRAME:] < 128
    rows = np.flatnonzero(dark.any(axis=1))
    assert rows.size and rows.max() - rows.min() >= 2 * report.CAPTION - 4  # two lines of ~15 px glyphs


def test_per_query_csv(evaluated):
    """A column per figure of the one figure list, each query's own value of it (pixel AP: over its thresholds)."""
    results = evaluated["results"]
    rows = list(csv.DictReader(tables.per_query_csv(results).splitlines()))
    assert len(rows) == 8 and {r["protocol"] for r in rows} == {"medium", "hard"}
    assert list(rows[0]) == ["protocol", "query_id", *(f.per_query for f in FIGURES)]
    for row in rows:
        per_query = results[row["protocol"]]["per_query"]
        k = per_query["query_id"].index(int(row["query_id"]))
        for figure in FIGURES:
            value = per_query[figure.per_query][k]
            if figure.pixel:
                counted = [v for v in value if v is not None]
                value = np.mean(counted) if counted else None
            assert row[figure.per_query] == ("" if value is None else f"{value:.6f}")
    assert any(row["ap_det"] for row in rows) and any(row["image_p@5"] for row in rows)


# ---------------------------------------------------------------- the paper comparison's notes and cells
def _perfect_positives(split):
    return [{"mask": r["mask"]} if r["positive"] else None for r in split]


def test_compare_paper_for_a_protocol_the_paper_does_not_report(tiny_dataset, medium, custom_metric):
    result = custom_metric.compute(predictions=_perfect_positives(medium), references=medium)
    comparison = tables.compare("proxford", {"easy": result}, "mine", 1)
    assert any("the paper reports medium and hard; your figures are for easy" in note for note in comparison.notes)


def test_markdown_cells_keep_a_bar_in_a_name(medium, custom_metric):
    result = custom_metric.compute(predictions=_perfect_positives(medium), references=medium)
    text = tables.compare("proxford", {"medium": result}, "my|method", 1).render("markdown")
    row = next(line for line in text.splitlines() if "my" in line)
    assert "my\\|method" in row and row.count(" | ") == text.splitlines()[2].count(" | ")
