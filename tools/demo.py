#!/usr/bin/env python
"""Interim demo: generate a tiny release, build it, score the ground truth with the metric."""

import sys
import tempfile
from pathlib import Path

import evaluate
import numpy as np
from datasets import load_dataset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from conftest import write_tiny_release  # noqa: E402

import importlib.util  # noqa: E402

spec = importlib.util.spec_from_file_location("pixret_build", ROOT / "tools" / "build.py")
build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build)

with tempfile.TemporaryDirectory() as tmp:
    write_tiny_release(Path(tmp) / "release")
    build.build("proxford", Path(tmp) / "release", Path(tmp) / "out")
    split = load_dataset(str(Path(tmp) / "out"), split="medium")
    metric = evaluate.load(str(ROOT / "metric" / "pixret_map"), "proxford")
    ranks = np.tile(np.arange(12), (4, 1))
    result = metric.compute(predictions=[{"mask": r["mask"]} for r in split], references=split, ranks=ranks)
    print({k: v for k, v in result.items() if k != "per_query"})
