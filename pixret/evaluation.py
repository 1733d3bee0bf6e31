"""Scoring a method's result files on a built dataset: the one function ``pixret evaluate``, ``pixret compare``, the
Space and the demo use.

    from pixret.evaluation import evaluate_files
    evaluation = evaluate_files("pixret/proxford", "preds.json", "ranks.npy")   # a Hub id or a built folder
    evaluation.results["medium"]["map_det"]       # fractions; evaluation.document() is the JSON of pixret evaluate
"""

from __future__ import annotations

from pixret.dataset import BuiltDataset, open_dataset
from pixret.metric.core.benchmarks import REPORTED
from pixret.metric.core.errors import InputError
from pixret.metric.evaluation import Evaluation, score_files
from pixret.progress import bar


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
    return score_files(data.ground_truth(benchmark), predictions, ranks, protocols=protocols, ranks_layout=ranks_layout,
                       distractors=distractors, queries=queries, official=official, name=name, sources=sources,
                       predictions_format=predictions_format, points_order=points_order, progress=progress,
                       trust_ids=trust_ids)
