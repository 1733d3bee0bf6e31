"""A method's results as a static HTML gallery: what ``pixret show`` writes.

Each query gets a PNG panel: its crop, then its top-k images with the predicted (magenta) and ground-truth
(yellow) outlines, framed green (true positive, IoU > 0.5), red (false positive) or grey (junk); without
predictions the frames show retrieval alone (positive / negative / junk). A second picture per query draws its
precision / recall and the IoUs of its positives by position. index.html links them all (``pixret.report``).

    from pixret.gallery import show
    page = show("pixret/proxford", "ranks.npy", "gallery", predictions="preds.json", queries=[0, 5])
"""

from __future__ import annotations

import warnings
from pathlib import Path

from pixret import outputs, report
from pixret.dataset import open_dataset
from pixret.metric.core.errors import InputError
from pixret.metric.evaluation import score_protocols
from pixret.metric.files.results import read_predictions, read_ranks
from pixret.progress import bar

MAX_TOP_K = 100  # a panel of more images is no longer a picture anyone looks at


def show(dataset: str, ranks, output, predictions=None, protocol: str = "medium", queries=None, top_k: int = 8,
         name: str | None = None, ranks_layout: str | None = None, overwrite: bool = False) -> Path:
    """Write the gallery of a method's results into the folder ``output``; return its index.html.

    ``dataset``: a built folder or a Hub id; ``ranks``: the rankings file (.npy); ``predictions``: the predictions
    file, or None (retrieval alone); ``queries``: query ids (default: all); ``top_k``: images per query (1 to
    MAX_TOP_K); ``name``: the method's, on the page (default: the predictions or ranks file's stem); ``overwrite``:
    replace an earlier gallery there.
    """
    if not 1 <= top_k <= MAX_TOP_K:
        raise InputError(f"top_k=... must be 1 to {MAX_TOP_K} (images drawn per query), got {top_k}")
    data = open_dataset(dataset)
    num_queries = len(data.query_names)
    ranks_path, predictions_path = ranks, predictions
    ranks = read_ranks(ranks_path, num_queries, ranks_layout)
    predictions = None
    if predictions_path is not None:
        predictions = read_predictions(predictions_path, num_queries, data.index_sizes)
    query_ids = list(range(num_queries)) if queries is None else list(queries)
    bad = [q for q in query_ids if not 0 <= q < num_queries]
    if bad:
        raise InputError(f"queries=...: unknown query ids {bad} (the dataset has {num_queries} queries, ids 0.."
                         f"{num_queries - 1})")
    if ranks.shape[1] == 0:
        raise InputError(f"{ranks_path}: the rankings hold no image (K = 0): nothing to show")
    if top_k > ranks.shape[1]:
        warnings.warn(f"top_k={top_k}, but the rankings hold {ranks.shape[1]} images per query: showing those",
                      stacklevel=2)
        top_k = ranks.shape[1]
    name = name or Path(predictions_path or ranks_path).stem
    split = data.split(protocol)
    inputs = [ranks_path, predictions_path, data.spec if data.local else None]
    with outputs.staged_folder(output, overwrite, command="show", inputs=inputs) as tmp:
        figures = _query_figures(tmp, split, predictions, ranks, data, query_ids)  # checks the ranks' ids too
        shown = [i for q in query_ids for i in ranks[q][:top_k]]  # only their images are read
        queries = data.rows("queries", "test", "query_id", query_ids)
        index = data.rows("index", "test", "index_id", shown)
        report.write_report(tmp, f"{name}: top-{top_k} per query ({protocol})", queries, index,
                            split, {name: ranks}, {name: predictions}, query_ids, k=top_k, progress=bar,
                            figures=figures)
    return Path(output) / "index.html"


def _query_figures(folder: Path, split, predictions, ranks, data, query_ids) -> dict:
    """Per query: precision / recall and the IoU of its positives by position (retrieval only without predictions)."""
    from pixret.metric.views import plots  # matplotlib, only when drawing

    options = data.metric_options()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no predictions: "none of the ... pairs has a prediction" is the point here
        result = score_protocols({"split": split}, predictions or {}, ranks, **options)["split"]
    out = {}
    for q in query_ids:
        file = f"q{q:03d}_figures.png"
        plots.save_png(plots.query_figure(result, q, data.query_names[q]), folder / file)
        out[q] = [("precision / recall and IoUs", file)]
    return out
