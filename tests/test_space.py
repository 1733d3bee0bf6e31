"""The metric Space (pixret/metric/app.py) started on 127.0.0.1 from a copy of its folder,
called with the real gradio_client, against a locally built dataset."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pixret.cli import main

pytestmark = pytest.mark.xdist_group("space")  # one worker: the module's fixtures are built once

METRIC_DIR = Path(__file__).resolve().parents[1] / "pixret" / "metric"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")  # (not module: xdist may run other modules in between, restarting the Space)
def space(tiny_dataset, tmp_path_factory):
    pytest.importorskip("gradio_client")
    base = tmp_path_factory.mktemp("space")
    folder = base / "pixret_map"  # the Space is its folder alone
    shutil.copytree(METRIC_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (base / "datasets").mkdir()
    os.symlink(tiny_dataset["out"], base / "datasets" / "proxford")
    port = _free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
           "PIXRET_DATASETS": str(base / "datasets"),  # a folder, no trailing slash "GRADIO_TEMP_DIR": str(base / "gradio-tmp"),
           "MPLBACKEND": "Agg"}
    log = open(base / "app.log", "w")
    process = subprocess.Popen([sys.executable, "app.py"], cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 300  # a hang guard: the loop ends as soon as the Space answers
    while True:
        try:
            urllib.request.urlopen(url + "gradio_api/info", timeout=2)
            break
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                process.kill()
                pytest.fail(f"the Space did not start:\n{(base / 'app.log').read_text()}")
            time.sleep(0.2)
    os.environ["HF_HUB_OFFLINE"] = "1"  # the client's own calls home
    from gradio_client import Client

    yield {"client": Client(url, verbose=False), "url": url, "log": base / "app.log"}
    process.terminate()
    process.wait(timeout=30)


def test_space_api_returns_the_json_of_pixret_evaluate(space, tiny_dataset, tmp_path, capsys):
    from gradio_client import handle_file

    entries = _gt_entries(tiny_dataset)
    (tmp_path / "preds.json").write_text(json.dumps(entries))
    import numpy as np

    np.save(tmp_path / "ranks.npy", np.stack([np.random.default_rng(q).permutation(12) for q in range(4)]))
    result = space["client"].predict(handle_file(str(tmp_path / "preds.json")), handle_file(str(tmp_path / "ranks.npy")),
                                     "proxford", api_name="/evaluate")
    assert main(["evaluate", "--dataset", str(tiny_dataset["out"]), "--predictions", str(tmp_path / "preds.json"),
                 "--ranks", str(tmp_path / "ranks.npy"), "--format", "json"]) == 0
    assert result == json.loads(capsys.readouterr().out)
    assert result["medium"]["miou_seg"] == 1.0 and 0 < result["medium"]["map_det"] <= 1
    without_ranks = space["client"].predict(handle_file(str(tmp_path / "preds.json")), None, "proxford",
                                            api_name="/evaluate")
    assert set(without_ranks["medium"]) == {"miou_det", "miou_seg", "intervals", "kinds"}
    assert set(without_ranks["medium"]["intervals"]) == {"miou_det", "miou_seg"}


def test_space_page_event_shows_tables_and_plots(space, tiny_dataset, tmp_path):
    from gradio_client import handle_file
    import numpy as np

    (tmp_path / "preds.json").write_text(json.dumps(_gt_entries(tiny_dataset)))
    np.save(tmp_path / "ranks.npy", np.tile(np.arange(12), (4, 1)))
    figures, report, gallery = space["client"].predict(
        handle_file(str(tmp_path / "preds.json")), handle_file(str(tmp_path / "ranks.npy")), "proxford", False,
        api_name="/evaluate_page")
    assert "| medium |" in report and "**Table 1 (PROxford)" in report and "**Table 2 (PROxford)" in report
    assert "| protocol | mAP det | mAP seg | perfect ranking: det |" in report  # the oracles
    assert "is not the real PROxford" in report  # the tiny dataset is custom data: the page says so
    assert len(gallery) >= 5 and all(Path(item["image"]).stat().st_size > 5000 for item in gallery)


def test_space_api_returns_the_warnings_and_the_unit(space, tiny_dataset, tmp_path):
    """Boxes as [x1, y1, x2, y2] score low: the API's JSON says why (its warnings), and which unit its figures are."""
    from gradio_client import handle_file

    from pixret import masks

    entries = [{"query_id": e["query_id"], "index_id": e["index_id"],
                "bbox": (lambda x, y, w, h: [x, y, x + w, y + h])(*masks.bbox(e["segmentation"]))}
               for e in _gt_entries(tiny_dataset)]
    (tmp_path / "xyxy.json").write_text(json.dumps(entries))
    result = space["client"].predict(handle_file(str(tmp_path / "xyxy.json")), None, "proxford", api_name="/evaluate")
    assert result["unit"] == "fraction" and 0 < result["medium"]["miou_det"] < 1
    assert [w.split(":")[0] for w in result["warnings"]] == ["medium", "hard"]
    assert all("the bboxes look like [x1, y1, x2, y2], not [x, y, w, h]" in w for w in result["warnings"])
    figures, report, _ = space["client"].predict(handle_file(str(tmp_path / "xyxy.json")), None, "proxford", False,
                                                 api_name="/evaluate_page")
    assert figures == result and "- figures in % (compute and the JSON give fractions in [0, 1])" in report
    assert "- warning: medium: the bboxes look like [x1, y1, x2, y2]" in report


def test_space_refuses_one_based_ids(space, tiny_dataset, tmp_path):
    from datasets import load_dataset
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    medium = load_dataset(str(tiny_dataset["out"]), "pairs", split="medium")
    entries = [{"query_id": r["query_id"], "index_id": r["index_id"] + 1, "bbox": [1.0, 1.0, 5.0, 5.0]}
               for r in medium if r["index_id"] + 1 < 12]
    (tmp_path / "shifted.json").write_text(json.dumps(entries))
    with pytest.raises(AppError, match=r"predictions: \d+ of \d+ predictions are for pairs no evaluated split holds, "
                                       r".*the ids look 1-based .* subtract 1 \(pixret evaluate --trust-ids"):
        space["client"].predict(handle_file(str(tmp_path / "shifted.json")), None, "proxford", api_name="/evaluate")


def test_space_text_says_its_units_and_tables_wrap_between_words(space):
    """The page's text says the JSON is fractions and the tables percent (never "ready for the leaderboard"), and
    its Markdown tables break lines between words only (Gradio's default breaks "protocol" as "protoco|l")."""
    config = json.loads(urllib.request.urlopen(space["url"] + "config", timeout=30).read())
    text = json.dumps(config)
    assert "fractions in [0, 1]" in text and "tables are in percent" in text and "ready for" not in text
    css = config.get("css") or ""
    assert ".pixret-report th, .pixret-report td { overflow-wrap: normal !important; word-break: normal !important; }" \
        in css
    assert "pixret-report" in json.dumps([c.get("props", {}).get("elem_classes") for c in config["components"]])


def test_space_errors_name_the_entry(space, tiny_dataset, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    entries = _gt_entries(tiny_dataset)
    entries[3]["segmentation"]["counts"] += "\u0101"
    (tmp_path / "bad.json").write_text(json.dumps(entries))
    with pytest.raises(AppError, match=r"predictions: entry 3 \(pair \(\d, \d+\)\): segmentation: RLE counts contain"):
        space["client"].predict(handle_file(str(tmp_path / "bad.json")), None, "proxford", api_name="/evaluate")
    entries = _gt_entries(tiny_dataset)
    entries[2]["bbox"] = [1, None, 2, 3]  # the message quotes the value: "None" stays "None"
    (tmp_path / "bad.json").write_text(json.dumps(entries))
    with pytest.raises(AppError, match=r"predictions: entry 2 \(pair .*\): bbox must be \[x, y, w, h\] numbers, got "
                                       r"\[1, None, 2, 3\]"):
        space["client"].predict(handle_file(str(tmp_path / "bad.json")), None, "proxford", api_name="/evaluate")
    assert "Traceback" not in space["log"].read_text()


def test_space_refuses_an_expanding_parquet_as_pixret_evaluate(space, tiny_dataset, tmp_path, capsys):
    """40 rows of one 2 MB string, stored once: the Space refuses it by its decoded size, as `pixret evaluate`."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    counts = pa.DictionaryArray.from_arrays(pa.array([0] * 40, pa.int32()), pa.array(["0" * 2_000_000]))
    sizes = pa.array([[24, 32]] * 40, pa.list_(pa.int32()))
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"query_id": [k % 4 for k in range(40)], "index_id": [k // 4 for k in range(40)],
                             "segmentation": pa.StructArray.from_arrays([sizes, counts], ["size", "counts"])}), path)
    assert main(["evaluate", "--dataset", str(tiny_dataset["out"]), "--predictions", str(path)]) == 1
    message = capsys.readouterr().err.strip().removeprefix(f"error: {path}: ")
    assert message.startswith("its predictions up to entry 39 decode to 80.0 MB, over this file's limit of 64.0 MB")
    with pytest.raises(AppError) as raised:
        space["client"].predict(handle_file(str(path)), None, "proxford", api_name="/evaluate")
    assert str(raised.value) == f"predictions: {message}"
    assert "Traceback" not in space["log"].read_text()


def _relative_imports(path: Path) -> set[str]:
    """Sibling modules a file imports relatively (``from .x import`` / ``from . import x``)."""
    text = path.read_text()
    named = set(re.findall(r"^\s*from \.(\w+) import", text, re.M))
    for group in re.findall(r"^\s*from \. import ([\w, ]+)", text, re.M):
        named |= {name.strip() for name in group.split(",")}
    return named


def test_the_evaluate_script_names_every_file_it_needs():
    """evaluate.load copies the siblings the script imports at the start of a line, one level deep: the
    script must name every file its imports reach (in the package, the Space and evaluate's copy alike)."""
    script = METRIC_DIR / "pixret_map.py"
    named = set(re.findall(r"^from \.(\w+) import", script.read_text(), re.M))
    reached, todo = set(), set(named)
    while todo:
        module = todo.pop()
        reached.add(module)
        todo |= _relative_imports(METRIC_DIR / f"{module}.py") - reached
    assert reached <= named, f"pixret_map.py does not name {sorted(reached - named)}"
    # evaluate reads whatever follows a relative import on its line as a download address
    assert not re.findall(r"^from \.\w+ import [^#\n]*#.*$", script.read_text(), re.M)
    # and every file imports its siblings relatively only: no two-way import blocks
    for path in METRIC_DIR.glob("*.py"):
        assert "__package__" not in path.read_text(), path


def test_space_imports_only_its_own_folder():
    """The Space installs requirements.txt from PyPI: pixret is not there."""
    for path in METRIC_DIR.glob("*.py"):
        assert not re.search(r"^\s*(from|import)\s+pixret\b", path.read_text(), re.M), path
    requirements = (METRIC_DIR / "requirements.txt").read_text()
    assert "pixret" not in requirements and "matplotlib" in requirements


def _gt_entries(tiny_dataset):
    from datasets import load_dataset

    medium = load_dataset(str(tiny_dataset["out"]), "pairs", split="medium")
    return [{"query_id": r["query_id"], "index_id": r["index_id"], "segmentation": r["mask"]}
            for r in medium if r["mask"] is not None]
