"""Scoring a method's result files on a built dataset: the one function ``pixret evaluate``, ``pixret compare``, the
Space and the demo use.

    from pixret.evaluation import evaluate_files
    evaluation = evaluate_files("pixret/proxford", "preds.json", "ranks.npy")   # a Hub id or a built folder
    evaluation.results["medium"]["map_det"]       # fractions; evaluation.document() is the JSON of pixret evaluate
"""

from __future__ import annotations

from pathlib import Path

from pixret.dataset import BuiltDataset, open_dataset
from pixret.metric.core.benchmarks import REPORTED
from pixret.metric.core.errors import InputError
from pixret.metric.evaluation import Evaluation, GroundTruth, score_files
from pixret.progress import bar


def check_result_files(**files) -> None:
    """Result files exist and are no folders (a pipe is fine): checked before a dataset is opened, to fail fast.
    ``files``: {what they are ("predictions", "ranks"): a path, a list of paths, or None}."""
    for what, paths in files.items():
        for path in paths if isinstance(paths, (list, tuple)) else [paths]:
            if path is not None and not Path(path).exists():
                raise InputError(f"{path}: {what} file not found")
            if path is not None and Path(path).is_dir():
                raise InputError(f"{path}: a folder, not a {what} file")


def ground_truth(data: BuiltDataset, benchmark: str | None = None) -> GroundTruth:
    """A built dataset (folder or Hub id, opened) as an evaluation reads it; ``benchmark``: check it is that one."""
    data.metric_options(benchmark)  # the benchmark it is, by its query names, against the one asked for
    return GroundTruth(data.spec, data.query_names, data.index_sizes, data.split, (data.report or {}).get("built_as"))


def evaluate_files(dataset, predictions, ranks=None, protocols=REPORTED, benchmark: str | None = None,
                   ranks_layout: str | None = None, distractors: int = 0, queries=None, official: bool = True,
                   name: str | None = None, predictions_format: str | None = None, points_order: str | None = None,
                   trust_ids: bool = False, sources: dict | None = None, progress=bar) -> Evaluation:
    """Score result files (pixret's format, or the authors' matching result) on every protocol of a built dataset.

    ``dataset``: a folder, a Hub id or an opened ``BuiltDataset``; ``predictions`` / ``ranks``: paths (ranks
    optional); the rest as ``pixret.metric.evaluation.score_files``, whose ``Evaluation`` this returns.
    """
    if distractors and ranks is None:
        raise InputError("distractors describe the ranks: pass ranks=... too")
    data = dataset if isinstance(dataset, BuiltDataset) else open_dataset(dataset)
    return score_files(ground_truth(data, benchmark), predictions, ranks, protocols=protocols, ranks_layout=ranks_layout,
                       distractors=distractors, queries=queries, official=official, name=name, sources=sources,
                       predictions_format=predictions_format, points_order=points_order, progress=progress,
                       trust_ids=trust_ids)
