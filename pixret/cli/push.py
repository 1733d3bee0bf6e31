"""pixret push: publish a built dataset folder as a Hub dataset repo, the metric folder as a Space, or a
model's eval results (leaderboard entries) to its model repo.

    pixret push dataset build/proxford --repo-id pixret/proxford [--dry-run]
    pixret push metric --repo-id pixret/pixret_map [--dry-run]        # the clone's metric/pixret_map
    pixret push results DIR --model-repo OWNER/MODEL [--create-pr] [--dry-run]   # DIR/.eval_results/*.yaml

What is uploaded, what is checked first and what stays home: ``pixret.publish``. ``--dry-run`` validates and
lists exactly what would go; after eval results are uploaded, the Hub's verdict on each file is shown, and a file
it rejects makes the command fail.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from pixret import hub_eval
from pixret.cli import UserError
from pixret.publish import (INTERRUPTED, Plan, Pushed, check_repo_id, check_token, plan_dataset,
                            plan_metric, plan_results, push, secret_kind)


def add_arguments(parser) -> None:
    parser.add_argument("kind", choices=["dataset", "metric", "results"])
    parser.add_argument("folder", type=Path, nargs="?",
                        help="the folder to publish (metric: default the clone's metric/pixret_map; "
                             "results: the folder holding .eval_results/, as pixret evaluate --eval-results wrote it)")
    parser.add_argument("--repo-id", help="dataset and metric: e.g. pixret/proxford or pixret/pixret_map")
    parser.add_argument("--model-repo", metavar="OWNER/MODEL", help="results: the model repo the figures are of")
    parser.add_argument("--create-pr", action="store_true",
                        help="results: open a pull request (community results, e.g. on a model that is not yours)")
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--dry-run", action="store_true", help="validate and list, upload nothing")
    parser.add_argument("--wheel", type=Path, help="metric: the wheel of this pixret the Space installs (default: "
                        "built from the clone)")
    parser.add_argument("--allow-synthetic", action="store_true",
                        help="upload a build that is not the benchmark (the demo world) to a repo not named demo")


def _plan_results(args) -> Plan:
    if args.repo_id is not None or args.model_repo is None:
        raise UserError("push results: name the model with --model-repo OWNER/MODEL" +
                        (" (--repo-id is for dataset and metric)" if args.repo_id else ""))
    if args.private or args.allow_synthetic:
        raise UserError("push results: --private and --allow-synthetic are for dataset and metric")
    if args.folder is None:
        raise UserError("push results: name the folder holding .eval_results/ (pixret evaluate --eval-results DIR)")
    check_repo_id(args.model_repo, "model_repo")
    return plan_results(args.folder, args.model_repo)


def run(args) -> int:
    if args.kind == "results":
        plan = _plan_results(args)
    else:
        if args.repo_id is None or args.model_repo or args.create_pr:
            raise UserError(f"push {args.kind}: " + ("--repo-id is required" if args.repo_id is None else
                                                     "--model-repo and --create-pr are for push results"))
        check_repo_id(args.repo_id)
        if args.folder is None and args.kind == "dataset":
            raise UserError("push dataset: name the built dataset folder")
        plan = (plan_dataset(args.folder, args.repo_id, args.allow_synthetic) if args.kind == "dataset"
                else plan_metric(args.folder, args.repo_id, args.wheel))
    for check in plan.checks:
        print(f"ok: {check}")
    user = None if args.dry_run else check_token()
    if plan.kind == "results" and args.dry_run:  # like the other kinds, a dry run asks nothing of the Hub
        print("not checked in a dry run: that the model exists and the datasets' eval.yaml define these tasks")
    elif plan.kind == "results":
        for check in hub_eval.check_on_hub(plan.results, plan.repo_id):
            print(f"ok: {check}")
    total = sum(size for _, size in plan.files)
    print(f"{'would upload' if args.dry_run else 'uploading'} {len(plan.files)} files ({total / 1e6:.1f} MB) "
          f"to {plan.repo_type} {plan.repo_id}" + (" in a pull request" if args.create_pr else "")
          + (f" as {user}" if user else "") + ":")
    for path, size in plan.files:
        print(f"  {path}  {size:,} bytes" + ("  (in a commit of its own, after the data)"
                                             if plan.kind == "dataset" and path == hub_eval.EVAL_YAML else ""))
    if plan.left:
        print(f"not uploaded: {len(plan.left)} other files of {plan.folder}:")
        for path, size in plan.left:
            print(f"  {path}  {size:,} bytes" + ("  (looks like a secret)" if secret_kind(path) else ""))
    if args.dry_run:
        return 0
    pushed = push(plan, args.private, args.create_pr)
    print(pushed.url)
    if pushed.eval_yaml_url:
        print(f"{hub_eval.EVAL_YAML}, in its own commit after the data: {pushed.eval_yaml_url}")
    if pushed.eval_yaml_refused:
        warnings.warn(pushed.eval_yaml_refused, stacklevel=1)
    if plan.kind == "results":
        _show_verdicts(plan, pushed)
    return 0


def _show_verdicts(plan: Plan, pushed: Pushed) -> None:
    """The Hub's verdict on each uploaded eval results file, read back; an error when it rejects one."""
    try:
        verdicts = hub_eval.hub_verdicts(plan.repo_id, [path for path, _ in plan.files],
                                         pull_request=pushed.pull_request)
    except Exception as err:  # noqa: BLE001 - the files are uploaded: a failed read-back is worth a warning only
        warnings.warn(f"the files are uploaded, but the Hub's verdict on them could not be read back "
                      f"({type(err).__name__}: {' '.join(str(err).split())[:200]}): look at the model page for "
                      f"{plan.repo_id}", stacklevel=2)
        return
    if verdicts is None:
        print("the Hub reports no verdict on eval results files (its model API has no evalResults here): look at "
              f"the model page for {plan.repo_id}")
        return
    print("the Hub's verdict on the uploaded files:")
    for verdict in verdicts:
        print(f"  {hub_eval.describe_verdict(verdict)}")
    rejected = [v.file for v in verdicts if v.valid is False]
    if rejected:
        raise UserError(f"the Hub rejects {len(rejected)} of the {len(verdicts)} uploaded files "
                        f"({', '.join(rejected)}; its reasons above): they are on no leaderboard; fix them and push "
                        "again")
