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

import contextlib
import json
import re
import sys
import warnings
from pathlib import Path


from pixret import hub_eval
from pixret.cli import UserError
from pixret.dataset import BuiltDataset, looks_local, open_dataset
from pixret.evaluation import evaluate_files
from pixret.metric.evaluation import Evaluation, ShiftedIds
from pixret.metric.files.results import read_ranks
from pixret.metric.files import authors
from pixret.metric.views.analysis import TOP_K, breakdowns
from pixret.metric.core.benchmarks import BENCHMARKS, CUSTOM, PROTOCOLS, R1M_DISTRACTORS, REPORTED
from pixret.metric.views.tables import breakdown_table, compare, oracle_table, per_query_csv, results_table
from pixret.metric.core.uncertainty import MAX_RESAMPLES, RESAMPLES
from pixret import outputs

PLOTS = "evaluate --plots"  # the command named in a --plots folder's marker


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
    parser.add_argument("--format", choices=["text", "markdown", "json"], default="text")
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


def check_inputs(named) -> None:
    """Result files (flag, path or None) exist and are no folders (a pipe is fine): checked before a dataset is
    opened, to fail fast."""
    for flag, path in named:
        if path is not None and not path.exists():
            raise UserError(f"{path}: {flag[2:]} file not found")
        if path is not None and path.is_dir():
            raise UserError(f"{path}: a folder, not a {flag[2:]} file")


def run(args) -> int:
    if args.distractors < 0:
        raise UserError(f"--distractors must be 0 or more, got {args.distractors}")
    if not 0 <= args.resamples <= MAX_RESAMPLES:
        raise UserError(f"--resamples must be 0 (no intervals) to {MAX_RESAMPLES:,}, got {args.resamples}")
    if args.seed < 0:
        raise UserError(f"--seed must be 0 or more, got {args.seed}")
    if args.compare_paper and args.format == "json":
        raise UserError("--compare-paper prints tables: use --format text or markdown with it")
    if args.points_order and authors.predictions_format(args.predictions, args.predictions_format) != "authors":
        raise UserError("--points-order describes the authors' matching result (.npy): pixret predictions have masks")
    check_inputs([("--predictions", args.predictions), ("--ranks", args.ranks)])
    _check_eval_results_flags(args)
    inputs = [args.predictions, args.ranks, args.dataset if looks_local(args.dataset) else None]
    if args.per_query:  # before the slow part: fail fast (and checked again when written)
        outputs.check_file(args.per_query, args.overwrite, "--per-query", inputs)
    if args.plots:
        outputs.check_folder(args.plots, PLOTS, args.overwrite, "--plots", inputs)
    named = [(flag, path) for flag, path in (("--per-query", args.per_query), ("--plots", args.plots),
                                             ("--eval-results", args.eval_results)) if path is not None]
    for k, (flag, path) in enumerate(named):  # no output may replace, hold or sit in another
        outputs.check_apart(path, [other for _, other in named[k + 1:]], flag, "another output")
    data = open_dataset(args.dataset)
    caught = []  # the evaluation's warnings: shown as they were, and kept for the JSON
    try:
        with warnings.catch_warnings(record=True) as caught:
            evaluation = evaluate_files(data, args.predictions, args.ranks, args.protocols, args.benchmark,
                                        args.ranks_layout, args.distractors, args.queries, not args.unofficial,
                                        args.name, args.predictions_format, args.points_order, args.trust_ids)
    except ShiftedIds as err:
        raise UserError(f"{args.predictions}: {err.finding}: the ids look 1-based (they are 0-based: revisitop's "
                        "positions), and figures of them would be nonsense; subtract 1, or pass --trust-ids if these "
                        "ids are right") from None
    finally:
        for warning in caught:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    for note in evaluation.notes:
        print(f"note: {note}", file=sys.stderr)
    # leaderboard files checked first: a refusal (a subset, the unofficial variant, custom data) prints nothing
    eval_results = _eval_results(args, evaluation, data) if args.eval_results else {}
    intervals = evaluation.intervals(args.seed, args.resamples) if args.resamples else None
    if args.format == "json":
        print(json.dumps(evaluation.document(intervals, [w.message for w in caught
                                                         if issubclass(w.category, UserWarning)]), indent=1))
    else:
        print(results_table(evaluation.results, args.format, intervals))
        if args.ranks is not None:
            print(f"\nerror breakdown of the positives (retrieved = in the top {TOP_K}, junk removed):")
            print(breakdown_table(breakdowns(evaluation.results), args.format))
            print("\nwhich half costs the most: pixel mAP (%) with one half made perfect (the other as it is):")
            print(oracle_table(evaluation.results, args.format))
    if args.compare_paper:
        print()
        print(comparison_text(evaluation, args.format))
    # the leaderboard files written whole under temporary names first (a full disk stops here, leaving none); the
    # slow part (drawing) into a temporary folder; the other files; the folder put in place; the leaderboard files
    # last, all at once: none is published unless every output was written
    written = []
    with hub_eval.stage_files(eval_results) as staged:
        with contextlib.ExitStack() as stack:
            if args.plots:
                from pixret.metric.views import plots

                tmp = stack.enter_context(outputs.staged_folder(args.plots, args.overwrite, command=PLOTS,
                                                                inputs=inputs, flag="--plots"))
                drawn = plots.save_all(tmp, evaluation.results, data.query_names, evaluation.name)
                written += [args.plots / path.name for path in drawn]
            if args.per_query:
                with outputs.signals_held():
                    written.append(outputs.write_file(args.per_query, per_query_csv(evaluation.results),
                                                      args.overwrite, "--per-query", inputs))
        with outputs.signals_held():  # a stop now would leave some leaderboard files in place and others not
            written += staged.commit()
    for path in written:  # on stderr: stdout is the figures (JSON with --format json)
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _check_eval_results_flags(args) -> None:
    """--source-url / --source-name go with --eval-results; R1M results read the ranks twice (not from a pipe)."""
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
    if args.distractors and args.ranks is not None and not args.ranks.is_file():
        raise UserError(f"--eval-results with --distractors checks that the ranks hold distractors, reading them "
                        f"again: {args.ranks} is not a regular file (a pipe?); save the ranks to a file")


def _eval_results(args, evaluation: Evaluation, data: BuiltDataset) -> dict:
    """The leaderboard files of an evaluation, checked (``hub_eval.eval_results_files``), not written."""
    ranks = None
    if args.distractors and args.ranks is not None:  # memory-mapped: read again at no cost
        ranks = read_ranks(args.ranks, len(data.query_names), args.ranks_layout)
    return hub_eval.eval_results_files(args.eval_results, evaluation.results, data, args.distractors,
                                       not args.unofficial, args.overwrite, ranks=ranks, source_url=args.source_url,
                                       source_name=args.source_name)


def comparison_text(evaluation: Evaluation, fmt: str) -> str:
    """The paper's tables with the method's row, for the dataset's benchmark (or the one a custom build was made
    in the format of); a row that is not the paper's kind of figure is marked and not ranked."""
    benchmark = evaluation.benchmark
    if benchmark == CUSTOM:
        benchmark = evaluation.truth.built_as
        if benchmark is None:
            raise UserError(f"--compare-paper: {evaluation.truth.name} is not one of the benchmarks (by its query "
                            "names) and has no build report naming the format it was built as")
    fmt = "markdown" if fmt == "markdown" else "text"
    results, reason = evaluation.results, evaluation.not_comparable
    tables = [compare(benchmark, results, evaluation.name, 1, not_comparable=reason).render(fmt)]
    if all(r.with_ranks for r in results.values()):
        tables.append(compare(benchmark, results, evaluation.name, 2, r1m=evaluation.distractors > 0,
                              not_comparable=reason).render(fmt))
    return "\n".join(tables)
