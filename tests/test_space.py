"""The metric Space (metric/pixret_map) as `pixret push metric` would upload it, started on 127.0.0.1 in a fresh venv
holding only what its requirements.txt installs (pixret from the wheel uploaded beside it), called with the real
gradio_client, against a locally built dataset."""

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

METRIC_DIR = Path(__file__).resolve().parents[1] / "metric" / "pixret_map"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# module scope: the Space stops when this module's tests are done (an idle gradio app takes ~9% of a core: over a
# whole session that was ~9 CPU-seconds); the module's tests are one xdist group, so they run one after the other
@pytest.fixture(scope="module")
def space(tiny_dataset, built_wheel, tmp_path_factory):
    pytest.importorskip("gradio_client")
    from pixret.publish import plan_metric

    base = tmp_path_factory.mktemp("space")
    folder = base / "pixret_map"  # the Space is what the plan uploads, alone
    plan = plan_metric(METRIC_DIR, "pixret/pixret_map", wheel=built_wheel)
    for path, _ in plan.files:
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(plan.sources.get(path, plan.folder / path), folder / path)
    python = _space_venv(base / "venv", folder)
    (base / "datasets").mkdir()
    os.symlink(tiny_dataset["out"], base / "datasets" / "proxford")
    port = _free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
           "PIXRET_DATASETS": str(base / "datasets"),  # a folder, no trailing slash
           "GRADIO_TEMP_DIR": str(base / "gradio-tmp"),  # the uploads the tests send, not in the machine's /tmp/gradio
           "MPLBACKEND": "Agg"}
    log = open(base / "app.log", "w")
    process = subprocess.Popen([str(python), "app.py"], cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
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

    where = subprocess.run([str(python), "-c", "import pixret; print(pixret.__file__)"], cwd=folder,
                           capture_output=True, text=True, check=True).stdout.strip()
    yield {"client": Client(url, verbose=False), "url": url, "log": base / "app.log", "where": where,
           "venv": base / "venv"}
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


def _space_venv(where: Path, folder: Path) -> Path:
    """A fresh venv with what the Space's requirements.txt installs: pixret from the wheel it names (no dependency
    fetched); the dependencies it would fetch from PyPI, and gradio (the Space's SDK), come from this interpreter's
    site-packages, as plain path entries (their .pth files, such as pixret's editable install, are not run)."""
    import sysconfig
    import venv

    venv.create(where, with_pip=False)
    python = where / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    ours = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    Path(purelib, "outer-site-packages.pth").write_text("".join(f"{p}\n" for p in ours))
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                           "--no-index", "--no-compile", "-r", "requirements.txt"], cwd=folder, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return python


def test_space_runs_the_pixret_its_requirements_install(space):
    """The Space's pixret is the wheel its requirements.txt names, not the clone's."""
    assert "Running on" in space["log"].read_text() or space["log"].exists()
    assert space["where"].startswith(str(space["venv"])), space["where"]


def _gt_entries(tiny_dataset):
    from datasets import load_dataset

    medium = load_dataset(str(tiny_dataset["out"]), "pairs", split="medium")
    return [{"query_id": r["query_id"], "index_id": r["index_id"], "segmentation": r["mask"]}
            for r in medium if r["mask"] is not None]
