"""pixret show: browse a method's results as a static HTML gallery.

    pixret show --dataset DATASET --ranks ranks.npy [--predictions preds.json] --output gallery/ \\
        [--protocol medium] [--queries 0 5 9] [--top-k 8] [--name NAME]

Each query gets a PNG panel: its crop, then its top-k images with the predicted
(magenta) and ground-truth (yellow) outlines, framed green (true positive, IoU > 0.5),
red (false positive) or grey (junk); without --predictions the frames show retrieval
alone (positive / negative / junk). gallery/index.html links them all.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from pixret import outputs, report
from pixret.cli import UserError
from pixret.dataset import open_dataset
from pixret.progress import bar
from pixret.metric.core.benchmarks import PROTOCOLS
from pixret.metric.evaluation import score_protocols
from pixret.metric.files.results import read_predictions, read_ranks


MAX_TOP_K = 100  # a panel of more images is no longer a picture anyone looks at


def add_arguments(parser) -> None:
    parser.add_argument("--dataset", required=True, help="built dataset folder or Hub id (owner/name)")
    parser.add_argument("--ranks", required=True, type=Path, help=".npy of index ids per query, best first")
    parser.add_argument("--ranks-layout", choices=["queries-first", "revisitop"])
    parser.add_argument("--predictions", type=Path, help=".json (COCO results style) or .parquet")
    parser.add_argument("--output", required=True, type=Path, help="gallery folder to write")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an earlier `pixret show` output (only a folder this command wrote)")
    parser.add_argument("--protocol", default="medium", choices=PROTOCOLS)
    parser.add_argument("--queries", nargs="+", type=int, metavar="QUERY_ID", help="query ids (default: all)")
    parser.add_argument("--top-k", type=int, default=8)
    parser.add_argument("--name", help="method name shown on the page (default: the predictions or ranks file's stem)")


def show(dataset: str, ranks_path, output, predictions_path=None, protocol: str = "medium", query_ids=None,
         top_k: int = 8, name: str | None = None, ranks_layout=None, overwrite: bool = False) -> Path:
    data = open_dataset(dataset)
    num_queries = len(data.query_names)
    ranks = read_ranks(ranks_path, num_queries, ranks_layout)
    predictions = None
    if predictions_path is not None:
        predictions = read_predictions(predictions_path, num_queries, data.index_sizes)
    query_ids = list(range(num_queries)) if query_ids is None else list(query_ids)
    bad = [q for q in query_ids if not 0 <= q < num_queries]
    if bad:
        raise UserError(f"--queries: unknown query ids {bad} (the dataset has {num_queries} queries, ids 0.."
                        f"{num_queries - 1})")
    if not 1 <= top_k <= MAX_TOP_K:
        raise UserError(f"--top-k must be 1 to {MAX_TOP_K} (images drawn per query), got {top_k}")
    if ranks.shape[1] == 0:
        raise UserError(f"{ranks_path}: the rankings hold no image (K = 0): nothing to show")
    if top_k > ranks.shape[1]:
        warnings.warn(f"--top-k {top_k}, but the rankings hold {ranks.shape[1]} images per query: showing those",
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

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no predictions: "none of the ... pairs has a prediction" is the point here
        result = score_protocols({"split": split}, predictions or {}, ranks, **data.metric_options())["split"]
    out = {}
    for q in query_ids:
        file = f"q{q:03d}_figures.png"
        plots.query_figure(result, q, data.query_names[q]).savefig(folder / file)
        out[q] = [("precision / recall and IoUs", file)]
    return out


def run(args) -> int:
    page = show(args.dataset, args.ranks, args.output, args.predictions, args.protocol, args.queries, args.top_k,
                args.name, args.ranks_layout, args.overwrite)
    print(f"wrote {page}")
    return 0
