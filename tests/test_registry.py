"""A benchmark is one registry entry (+ its paper tables): a third one builds, evaluates and gets its card."""

from __future__ import annotations

import json

import numpy as np
import pytest
from datasets import load_dataset
from huggingface_hub import DatasetCard

import pixret
from pixret import synthetic
from pixret.cli import main
from pixret.metric.core import benchmarks
from pixret.metric.views import tables
from pixret.metric.files.results import align

TABLE1 = """# Table 1 of a made-up paper, for the test.
family,method,fake_medium_D,fake_medium_S,fake_hard_D,fake_hard_S
matching,Matcher A,40.0,30.0,20.0,10.0
matching,Matcher B,80.0,70.0,60.0,50.0
"""
TABLE2 = """# Table 2 of a made-up paper.
ranking,method,fake_M,fake_H,fake_r1m_M,fake_r1m_H
R,Image level mAP,90.0,80.0,70.0,60.0
R,Matcher B,50.0,40.0,30.0,20.0
"""


@pytest.fixture
def fake(tmp_path, generators):
    """A third benchmark, registered from one entry: the tiny release's gnd is its revisitop ground truth."""
    (tmp_path / "t1.csv").write_text(TABLE1)
    (tmp_path / "t2.csv").write_text(TABLE2)
    facts = generators.tiny_benchmark("fake", paper_tables=(str(tmp_path / "t1.csv"), str(tmp_path / "t2.csv")))
    benchmarks.register(facts)
    try:
        yield facts
    finally:
        benchmarks.unregister("fake")


def test_a_registered_benchmark_builds_evaluates_and_has_its_card(fake, tmp_path, capsys):
    synthetic.write_tiny_release(tmp_path / "release", benchmark="fake")
    assert (tmp_path / "release" / "fake_pair2labelpath.npy").is_file()  # its label prefix
    assert (tmp_path / "release" / "revisitop" / "data" / "rfake3k" / "gnd_rfake3k.pkl").is_file()
    assert main(["build", "--benchmark", "fake", "--labels", str(tmp_path / "release"),
                 "--output", str(tmp_path / "out")]) == 0
    assert "the benchmark" in capsys.readouterr().out
    report = json.loads((tmp_path / "out" / "build_report.json").read_text())
    assert report["benchmark"] == "fake"  # identified by its facts

    card = DatasetCard.load(tmp_path / "out" / "README.md")
    assert card.data.pretty_name == "PRFake" and "rfake3k" in card.data.tags
    assert "Revisited Fake (RFake3k)" in card.text and "Its sibling" not in card.text
    assert "| Matcher B | 80.0 | 70.0 | 60.0 | 50.0 |" in card.text  # its own paper tables
    assert "made-up pictures" in (tmp_path / "out" / "LICENSE").read_text()

    medium = load_dataset(str(tmp_path / "out"), "pairs", split="medium")
    predictions = [{"mask": r["mask"]} if r["positive"] else None for r in medium]
    ranks = np.tile(np.arange(12), (4, 1))
    result = pixret.load_metric("fake").compute(predictions=predictions, references=medium, ranks=ranks)
    assert result["miou_seg"] == 1.0
    # its ignore list: query 3 adds 0 to pixel mAP but stays in the denominator
    assert result["map_seg"] == pytest.approx(np.mean([ap for ap in result["per_query"]["image_ap"][:3]]) * 3 / 4)
    with pytest.raises(ValueError, match="these references are PRFake"):
        pixret.load_metric("proxford").compute(predictions=predictions, references=medium)

    by_pair = {(r["query_id"], r["index_id"]): {"mask": r["mask"]} for r in medium if r["positive"]}
    assert align(by_pair, medium) == [p and {**p, "bbox": None, "polygon": None, "query_id": r["query_id"],
                                               "index_id": r["index_id"]}
                                      for p, r in zip(predictions, medium)]
    comparison = tables.compare("fake", {"medium": result}, "mine", 1)
    assert comparison.rows[comparison.user_rank][:3] == ["(yours)", "mine", "100.0"] and comparison.user_rank == 0
    assert [row[1] for row in comparison.rows] == ["mine", "Matcher B", "Matcher A"]


def test_registry_refuses_a_second_entry_of_one_name(fake):
    with pytest.raises(ValueError, match="exists already"):
        benchmarks.register(fake)
    with pytest.raises(ValueError, match="no paper tables for 'nothing'"):
        tables.paper_table("nothing", 1)
