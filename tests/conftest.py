"""Small upstream releases in the exact layout, written to tmp folders."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pixret import synthetic  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "revisitop"


def load_tool(name: str):
    """Import tools/<name>.py by path (tools/evaluate.py must not shadow the evaluate package)."""
    spec = importlib.util.spec_from_file_location(f"pixret_tool_{name}", ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def tiny_world(num_queries: int = 4, num_index: int = 12, seed: int = 0) -> dict:
    """revisitop-style gnd: queries in groups of 2 sharing lists, every list kind present."""
    rng = np.random.default_rng(seed)
    gnd = []
    for q in range(num_queries):
        group_rng = np.random.default_rng(seed * 1000 + q // 2)
        ids = group_rng.permutation(num_index)
        easy, hard, junk = sorted(ids[:3].tolist()), sorted(ids[3:5].tolist()), sorted(ids[5:6].tolist())
        x1, y1 = rng.uniform(0, 20, 2)
        gnd.append({"easy": easy, "hard": hard, "junk": junk, "bbx": [x1, y1, x1 + 30.5, y1 + 20.0]})
    return {
        "imlist": [f"index_{i:03d}" for i in range(num_index)],
        "qimlist": [f"query_{q:03d}" for q in range(num_queries)],
        "gnd": gnd,
    }


def write_tiny_release(root: Path, benchmark: str = "proxford", gnd: dict | None = None, layout: str = "authors",
                       height: int = 48, width: int = 64, seed: int = 0) -> dict:
    """A complete release; returns {"gnd", "labels": {(q, i): label path relative to root}}."""
    gnd = gnd or tiny_world(seed=seed)
    rng = np.random.default_rng(seed)
    for name in gnd["imlist"] + gnd["qimlist"]:
        synthetic.write_jpeg(root, benchmark, name, rng.integers(0, 255, (height, width, 3)), layout=layout)
    labels = {}
    for q, entry in enumerate(gnd["gnd"]):
        for i in entry["easy"] + entry["hard"]:
            group = q // 2  # queries of one group share label files, as upstream
            rel = f"labels/{benchmark}/g{group}/{gnd['imlist'][i]}.json"
            if not (root / rel).exists():
                x, y = rng.uniform(2, width / 2), rng.uniform(2, height / 2)
                w, h = rng.uniform(8, width / 2 - 2), rng.uniform(8, height / 2 - 2)
                shapes = [np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])]
                if i % 2:  # some labels have two polygons: the mask is their union
                    shapes.append(np.array([[1, 1], [6, 1], [6, 6]], dtype=float))
                synthetic.write_label(root, rel, shapes, height, width, f"{gnd['imlist'][i]}.jpg")
            labels[q, i] = rel
    synthetic.write_gnd(root, benchmark, gnd, layout)
    synthetic.write_pair2label(root, benchmark, labels)
    return {"gnd": gnd, "labels": labels}


@pytest.fixture
def release(tmp_path):
    root = tmp_path / "release"
    info = write_tiny_release(root)
    info["root"] = root
    return info


@pytest.fixture(scope="session")
def build_tool():
    return load_tool("build")


METRIC_DIR = ROOT / "metric" / "pixret_map"


def load_metric_module():
    """metric/pixret_map/pixret_map.py as a module, for its plain functions."""
    spec = importlib.util.spec_from_file_location("pixret_map_plain", METRIC_DIR / "pixret_map.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def pm():
    return load_metric_module()


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory, build_tool):
    """A real built dataset folder of the tiny release (built once per session)."""
    base = tmp_path_factory.mktemp("tiny")
    info = write_tiny_release(base / "release")
    build_tool.build("proxford", base / "release", base / "out")
    return {**info, "root": base / "release", "out": base / "out"}
