"""pixret show: browse a method's results as a static HTML gallery.

    pixret show --dataset DATASET --ranks ranks.npy [--predictions preds.json] --output gallery/ \\
        [--protocol medium] [--queries 0 5 9] [--top-k 8] [--name NAME]

What the panels show: ``pixret.gallery``; gallery/index.html links them all.
"""

from __future__ import annotations

from pathlib import Path

from pixret.gallery import show
from pixret.metric.core.benchmarks import PROTOCOLS


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


def run(args) -> int:
    page = show(args.dataset, args.ranks, args.output, args.predictions, args.protocol, args.queries, args.top_k,
                args.name, args.ranks_layout, args.overwrite)
    print(f"wrote {page}")
    return 0
