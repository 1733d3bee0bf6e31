"""pixret evaluate: score a method's result files with the pixret_map metric.

    pixret evaluate --dataset DATASET --predictions preds.json [--ranks ranks.npy] \\
        [--format text|markdown|json] [--per-query per_query.csv] [--compare-paper] [--plots DIR]

DATASET is a built dataset folder or a Hub id (pixret/proxford). Predictions: a
COCO-results-style JSON list of {query_id, index_id, segmentation (RLE) and/or bbox}
or Parquet with those columns, or the authors' matching_result .npy
(``pixret.metric.files.authors``). Ranks: .npy of index ids, (num_queries, K) or
revisitop's (K, num_queries). Prints the paper-style row per protocol: mean mIoU
(D/S), pixel mAP@50:5:95 (det/seg), image mAP and mP@1/5/10. The benchmark is
established from the dataset's query names (``--benchmark`` only checks it).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from pixret.cli import UserError, printed_warnings
from pixret.metric.core.benchmarks import BENCHMARKS, CUSTOM, PROTOCOLS, R1M_DISTRACTORS, REPORTED
from pixret.metric.core.uncertainty import MAX_RESAMPLES, RESAMPLES
from pixret.metric.files import authors
from pixret.scorecard import FORMATS, scorecard


def add_arguments(parser) -> None:
    parser.add_argument("--dataset", required=True,
                        help="built dataset folder or Hub id (owner/name; hub:owner/name where a folder owner/ "
                             "is here)")
    parser.add_argument("--predictions", required=True, type=Path,
                        help=".json (COCO results style) or .parquet; or the authors' matching_result/<benchmark>.npy")
    parser.add_argument("--predictions-format", choices=authors.PREDICTION_FORMATS,
                        help="pixret (.json / .parquet) or authors (their matching result); default: .npy is authors")
    parser.add_argument("--points-order", choices=authors.POINT_ORDERS,
                        help="authors' format: the points are (x, y) (default) or their older (row, col)")
    parser.add_argument("--ranks", type=Path, help=".npy of index ids per query, best first")
    parser.add_argument("--ranks-layout", choices=["queries-first", "revisitop"],
                        help="(num_queries, K) or revisitop's (K, num_queries); needed only when ambiguous")
    parser.add_argument("--distractors", type=int, default=0, metavar="N",
                        help=f"the ranks include N distractor ids after the index (R1M: {R1M_DISTRACTORS})")
    parser.add_argument("--protocols", nargs="+", default=list(REPORTED), choices=PROTOCOLS)
    parser.add_argument("--queries", nargs="+", type=int, metavar="QUERY_ID",
                        help="average over these queries only (the results say so)")
    parser.add_argument("--benchmark", choices=[*sorted(BENCHMARKS), CUSTOM],
                        help="check that the dataset is this benchmark (it is always established from the data)")
    parser.add_argument("--trust-ids", action="store_true",
                        help="score predictions whose ids look 1-based (most miss the splits, id - 1 would place "
                             "them) instead of stopping: for ids you know are right")
    parser.add_argument("--unofficial", action="store_true",
                        help="leave the ignored queries out of pixel mAP's denominator (not the paper's figure)")
    parser.add_argument("--format", choices=FORMATS, default="text")
    parser.add_argument("--per-query", type=Path, help="write per-query figures as CSV")
    parser.add_argument("--compare-paper", action="store_true",
                        help="print the paper's Table 1 (and Table 2 with --ranks) with your row at its rank")
    parser.add_argument("--plots", type=Path, metavar="DIR", help="write PNG figures (curves, histograms, breakdown)")
    parser.add_argument("--name", help="the method's name in tables and plots (default: the predictions file's stem)")
    parser.add_argument("--resamples", type=int, default=RESAMPLES, metavar="N",
                        help=f"bootstrap resamples of the queries for the 95%% intervals (default {RESAMPLES:,}; "
                             "0: no intervals)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (the same seed, the same intervals)")
    parser.add_argument("--eval-results", type=Path, metavar="DIR",
                        help="write the leaderboard figures as Hub eval results, DIR/.eval_results/*.yaml, for "
                             "`pixret push results DIR --model-repo OWNER/MODEL`")
    parser.add_argument("--source-url", metavar="URL", help="--eval-results: the results' source, the leaderboard's "
                        "link for them (your paper, code or logs)")
    parser.add_argument("--source-name", metavar="NAME", help="--eval-results: the name the leaderboard shows for "
                        "--source-url")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --per-query file (a regular "
                        "file only), an earlier --plots folder (only one this command wrote) and earlier "
                        "--eval-results files of the same tasks")


def run(args) -> int:
    if args.distractors < 0:
        raise UserError(f"--distractors must be 0 or more, got {args.distractors}")
    if not 0 <= args.resamples <= MAX_RESAMPLES:
        raise UserError(f"--resamples must be 0 (no intervals) to {MAX_RESAMPLES:,}, got {args.resamples}")
    if args.seed < 0:
        raise UserError(f"--seed must be 0 or more, got {args.seed}")
    _check_eval_results_flags(args)
    card = scorecard(args.dataset, args.predictions, args.ranks, predictions_format=args.predictions_format,
                     points_order=args.points_order, ranks_layout=args.ranks_layout, distractors=args.distractors,
                     protocols=args.protocols, queries=args.queries, benchmark=args.benchmark,
                     trust_ids=args.trust_ids, official=not args.unofficial, name=args.name, fmt=args.format,
                     compare_paper=args.compare_paper, resamples=args.resamples, seed=args.seed,
                     per_query=args.per_query, plots=args.plots, eval_results=args.eval_results,
                     source_url=args.source_url, source_name=args.source_name, overwrite=args.overwrite)
    for note in card.evaluation.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.format == "json":  # its warnings as they were printed: in flags
        print(json.dumps({**card.document, "warnings": printed_warnings()}, indent=1))
    else:
        print(card.text)
    for path in card.written:  # on stderr: stdout is the figures (JSON with --format json)
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _check_eval_results_flags(args) -> None:
    """--source-url / --source-name go with --eval-results."""
    if args.eval_results is None:
        given = [flag for flag, value in (("--source-url", args.source_url), ("--source-name", args.source_name))
                 if value is not None]
        if given:
            raise UserError(f"{' and '.join(given)} describe{'s' * (len(given) == 1)} the leaderboard files: pass "
                            "--eval-results DIR too")
        return
    if args.source_name is not None and args.source_url is None:
        raise UserError("--source-name names the link --source-url gives: pass --source-url too")
    if args.source_url is not None and not re.match(r"^https?://\S+$", args.source_url):
        raise UserError(f"--source-url {args.source_url!r} is not an http(s) link (the leaderboard links to it)")
    if args.source_name is not None and not args.source_name.strip():
        raise UserError("--source-name is empty: give the link a name, or drop the flag")
