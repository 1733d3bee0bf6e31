"""pixret evaluate: score a method's result files with the pixret_map metric.

    pixret evaluate --dataset DATASET --predictions preds.json [--ranks ranks.npy] \\
        [--format text|markdown|json] [--per-query per_query.csv] [--compare-paper] [--plots DIR]

DATASET is a built dataset folder or a Hub id (pixret/proxford). Predictions: a
COCO-results-style JSON list of {query_id, index_id, segmentation (RLE) and/or bbox}
or Parquet with those columns. Ranks: .npy of index ids, (num_queries, K) or
revisitop's (K, num_queries). Prints the paper-style row per protocol: mean mIoU
(D/S), pixel mAP@50:5:95 (det/seg), image mAP and mP@1/5/10. The benchmark is
established from the dataset's query names (``--benchmark`` only checks it).
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import numpy as np

from pixret.cli import UserError
from pixret.dataset import looks_local, open_dataset
from pixret.metric.benchmarks import BENCHMARKS, CUSTOM, R1M_DISTRACTORS
from pixret.metric.results import read_predictions, read_ranks, score_protocols
from pixret.metric.analysis import TOP_K, breakdowns
from pixret.metric.tables import breakdown_table, compare, results_json, results_table
from pixret import outputs

PLOTS = "evaluate --plots"  # the command named in a --plots folder's marker


def add_arguments(parser) -> None:
    parser.add_argument("--dataset", required=True,
                        help="built dataset folder or Hub id (owner/name; hub:owner/name where a folder owner/ "
                             "is here)")
    parser.add_argument("--predictions", required=True, type=Path, help=".json (COCO results style) or .parquet")
    parser.add_argument("--ranks", type=Path, help=".npy of index ids per query, best first")
    parser.add_argument("--ranks-layout", choices=["queries-first", "revisitop"],
                        help="(num_queries, K) or revisitop's (K, num_queries); needed only when ambiguous")
    parser.add_argument("--distractors", type=int, default=0, metavar="N",
                        help=f"the ranks include N distractor ids after the index (R1M: {R1M_DISTRACTORS})")
    parser.add_argument("--protocols", nargs="+", default=["medium", "hard"], choices=["easy", "medium", "hard"])
    parser.add_argument("--queries", nargs="+", type=int, metavar="QUERY_ID",
                        help="average over these queries only (the results say so)")
    parser.add_argument("--benchmark", choices=[*sorted(BENCHMARKS), CUSTOM],
                        help="check that the dataset is this benchmark (it is always established from the data)")
    parser.add_argument("--unofficial", action="store_true",
                        help="leave the ignored queries out of pixel mAP's denominator (not the paper's figure)")
    parser.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    parser.add_argument("--per-query", type=Path, help="write per-query figures as CSV")
    parser.add_argument("--compare-paper", action="store_true",
                        help="print the paper's Table 1 (and Table 2 with --ranks) with your row at its rank")
    parser.add_argument("--plots", type=Path, metavar="DIR", help="write PNG figures (curves, histograms, breakdown)")
    parser.add_argument("--name", help="the method's name in tables and plots (default: the predictions file's stem)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --per-query file (a regular "
                        "file only) and an earlier --plots folder (only one this command wrote)")


def evaluate_files(dataset: str, predictions, ranks=None, protocols=("medium", "hard"), benchmark=None,
                   ranks_layout=None, distractors: int = 0, queries=None, official: bool = True):
    """({protocol: metric results}, the opened dataset) for result files."""
    data = open_dataset(dataset)
    options = data.metric_options(benchmark)
    by_pair = read_predictions(predictions, len(data.query_names), data.index_sizes)
    rank_array = None if ranks is None else read_ranks(ranks, len(data.query_names), ranks_layout)
    if distractors and rank_array is None:
        raise UserError("--distractors describes the ranks: pass --ranks too")
    splits = {protocol: data.split(protocol) for protocol in protocols}
    if queries is not None:  # the rows of these queries only; the metric then averages over them, and says so
        outside = [q for q in queries if not 0 <= q < len(data.query_names)]
        if outside:
            raise UserError(f"--queries: queries must be query ids 0..{len(data.query_names) - 1}, got {outside}")
        splits = {p: split.select(np.flatnonzero(np.isin(split["query_id"], queries))) for p, split in splits.items()}
    results = score_protocols(splits, by_pair, rank_array, distractors=distractors, queries=queries,
                              official=official, **options)
    return results, data


def per_query_csv(results: dict) -> str:
    """Per-query figures of every protocol (pixel AP: mean over the thresholds at which the query counts)."""
    keys = ["miou_det", "miou_seg", "image_ap", "image_p@1", "image_p@5", "image_p@10"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["protocol", "query_id", *keys, "ap_det", "ap_seg"])
    for protocol, result in results.items():
        per_query = result["per_query"]
        for k, q in enumerate(per_query["query_id"]):
            row = [protocol, q] + [_cell((per_query.get(key) or [None] * (k + 1))[k]) for key in keys]
            for key in ("ap_det", "ap_seg"):
                values = [v for v in ((per_query.get(key) or [[]] * (k + 1))[k]) if v is not None]
                row.append(_cell(sum(values) / len(values) if values else None))
            writer.writerow(row)
    return out.getvalue()


def _cell(value):
    return "" if value is None else f"{value:.6f}"


def run(args) -> int:
    if args.distractors < 0:
        raise UserError(f"--distractors must be 0 or more, got {args.distractors}")
    if args.compare_paper and args.format == "json":
        raise UserError("--compare-paper prints tables: use --format text or markdown with it")
    for flag, path in (("--predictions", args.predictions), ("--ranks", args.ranks)):
        if path is not None and not path.is_file():  # before the dataset is opened: fail fast
            raise UserError(f"{path}: {flag[2:]} file not found" if not path.exists() else f"{path}: not a file")
    inputs = [args.predictions, args.ranks, args.dataset if looks_local(args.dataset) else None]
    if args.per_query:  # before the slow part: fail fast (and checked again when written)
        outputs.check_file(args.per_query, args.overwrite, "--per-query", inputs)
    if args.plots:
        outputs.check_folder(args.plots, PLOTS, args.overwrite, "--plots", inputs)
    name = args.name or args.predictions.stem
    results, data = evaluate_files(args.dataset, args.predictions, args.ranks, args.protocols, args.benchmark,
                                   args.ranks_layout, args.distractors, args.queries, not args.unofficial)
    if args.format == "json":
        print(results_json(results))
    else:
        print(results_table(results, args.format))
        if args.ranks is not None:
            print(f"\nerror breakdown of the positives (retrieved = in the top {TOP_K}, junk removed):")
            print(breakdown_table(breakdowns(results), args.format))
    if args.compare_paper:
        print()
        print(comparison_text(results, data, name, args.ranks is not None, args.distractors > 0, args.format))
    # the slow part (drawing) first, into a temporary folder; then every file is put in place at once
    written = write_plots(args.plots, results, data.query_names, name, args.overwrite, inputs) if args.plots else []
    if args.per_query:
        text = per_query_csv(results)
        written.append(outputs.write_file(args.per_query, text, args.overwrite, "--per-query", inputs))
    for path in written:  # on stderr: stdout is the figures (JSON with --format json)
        print(f"wrote {path}", file=sys.stderr)
    return 0


def write_plots(folder, results: dict, query_names, name: str, overwrite: bool = False, inputs=()) -> list[Path]:
    """The evaluation's figures as PNGs in ``folder``, a command output folder (see ``pixret.outputs``)."""
    from pixret.metric import plots

    with outputs.staged_folder(folder, overwrite, command=PLOTS, inputs=inputs, flag="--plots") as tmp:
        names = [path.name for path in plots.save_all(tmp, results, query_names, name)]
    return [Path(folder) / name for name in names]


def comparison_text(results: dict, data, name: str, with_ranks: bool, r1m: bool, fmt: str) -> str:
    """The paper's tables with the method's row, for the dataset's benchmark (or the one a custom build was made as)."""
    benchmark = data.benchmark
    synthetic = benchmark == "custom"
    if synthetic:
        built_as = (data.report or {}).get("built_as")
        if built_as is None:
            raise UserError(f"--compare-paper: {data.spec} is not PROxford or PRParis (by its query names) and has no "
                            "build report naming the format it was built as")
        benchmark = built_as
    fmt = "markdown" if fmt == "markdown" else "text"
    tables = [compare(benchmark, results, name, 1, synthetic=synthetic).render(fmt)]
    if with_ranks:
        tables.append(compare(benchmark, results, name, 2, r1m=r1m, synthetic=synthetic).render(fmt))
    return "\n".join(tables)
