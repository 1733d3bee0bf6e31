"""pixret push: publish a built dataset folder as a Hub dataset repo, the metric folder as a Space, or a
model's eval results (leaderboard entries) to its model repo.

    pixret push dataset build/proxford --repo-id pixret/proxford [--dry-run]
    pixret push metric --repo-id pixret/pixret_map [--dry-run]        # the package's pixret/metric folder
    pixret push results DIR --model-repo OWNER/MODEL [--create-pr] [--dry-run]   # DIR/.eval_results/*.yaml

Only the folder's own files are uploaded: for a dataset, the files ``pixret build`` wrote (the list
in its ``.pixret-output.json``, which itself stays home); for the metric, its ``*.py``, ``README.md``,
``requirements.txt`` and ``paper/*.csv``. Anything else in the folder is listed as not uploaded, with a
warning, a loud one when its name looks like a secret (a token, .env, a key). ``--dry-run`` lists
exactly what would go.

Before anything is uploaded the folder is validated: the card's YAML (configs and
dataset_info for a dataset, the Space header for the metric), every config's data
files, that every link and image of the card resolves inside the uploaded files (or is
an absolute URL), and that the folder loads (every config and split read from its
Parquet shards as the card describes them, or ``evaluate.load`` of the metric). A build
that is not the real benchmark (the demo world) is only uploaded to a repo whose name
says demo, or with --allow-synthetic. A dataset's eval.yaml (a Hub Benchmark) is checked
against the Hub's specification and the card's configs. Eval results are checked against
the Hub's schema, then on the Hub: the model exists (a warning when its card declares a
base_model: the leaderboards hide those by default), each dataset is a Benchmark whose
eval.yaml defines the results' tasks. Then the repo id and the token are checked, and
only then is anything uploaded.

A dataset's eval.yaml is uploaded in a commit of its own, after the data: when the Hub refuses
it (pixret is not yet on its evaluation-framework list nor its Benchmark allow-list, see
docs/hub-registration.md), the dataset is there all the same and the refusal is one warning.
After eval results are uploaded, the Hub's verdict on each file is read back and shown; a file
it rejects makes the command fail.
"""

from __future__ import annotations

import fnmatch
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pixret import hub_eval
from pixret.cli import UserError
from pixret.dataset import REPORT, DatasetError, read_report, read_split
from pixret.outputs import MARKER, written_files

INTERRUPTED = "interrupted: the upload may be incomplete; run the same command again"
SPACE_KEYS = ("title", "sdk", "app_file", "sdk_version")
IGNORED = ("__pycache__",)  # Python's caches: never uploaded, not listed
METRIC_FILES = ("*.py", "README.md", "requirements.txt", "paper/*.csv")  # the metric folder's own files
SECRET_WORDS = ("token", "secret", "credential", "password", "passwd", "apikey", "api_key")
SECRET_NAMES = {".env": "an environment file", ".netrc": "a credentials file", ".git-credentials": "a credentials "
                "file", ".pypirc": "a credentials file", ".npmrc": "a credentials file"}
SECRET_PATTERNS = {"*.pem": "a key or certificate", "*.key": "a key", "*.p12": "a key store", "*.pfx": "a key store",
                   ".env.*": "an environment file", "*.env": "an environment file",
                   **{f"id_{kind}*": "an SSH key" for kind in ("rsa", "ed25519", "ecdsa", "dsa")}}


class ValidationError(UserError):
    """The folder is not ready to publish."""


@dataclass
class Plan:
    kind: str  # "dataset", "metric" or "results"
    folder: Path
    repo_id: str
    files: list[tuple[str, int]] = field(default_factory=list)  # (relative path, bytes): what is uploaded
    checks: list[str] = field(default_factory=list)  # what was validated
    results: dict = field(default_factory=dict)  # results: {file name: entries}
    left: list[tuple[str, int]] = field(default_factory=list)  # the folder's other files: not uploaded

    @property
    def repo_type(self) -> str:
        return {"dataset": "dataset", "metric": "space", "results": "model"}[self.kind]


def add_arguments(parser) -> None:
    parser.add_argument("kind", choices=["dataset", "metric", "results"])
    parser.add_argument("folder", type=Path, nargs="?",
                        help="the folder to publish (metric: default the installed package's pixret/metric; "
                             "results: the folder holding .eval_results/, as pixret evaluate --eval-results wrote it)")
    parser.add_argument("--repo-id", help="dataset and metric: e.g. pixret/proxford or pixret/pixret_map")
    parser.add_argument("--model-repo", metavar="OWNER/MODEL", help="results: the model repo the figures are of")
    parser.add_argument("--create-pr", action="store_true",
                        help="results: open a pull request (community results, e.g. on a model that is not yours)")
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--dry-run", action="store_true", help="validate and list, upload nothing")
    parser.add_argument("--allow-synthetic", action="store_true",
                        help="upload a build that is not the benchmark (the demo world) to a repo not named demo")


def _all_files(folder: Path) -> list[str]:
    """Every file and link below ``folder`` (relative, '/'-separated; links not followed), but Python's caches."""
    out = []
    for root, dirs, files in os.walk(folder, onerror=_unlistable):
        links = [d for d in dirs if os.path.islink(os.path.join(root, d))]
        dirs[:] = [d for d in dirs if d not in IGNORED and d not in links]
        relative = Path(root).relative_to(folder)
        out += [(relative / name).as_posix() for name in files + links]
    return sorted(out)


def _unlistable(err: OSError):
    raise ValidationError(f"{err.filename}: cannot list its files ({err.strerror})")


def _own_files(kind: str, folder: Path, present: list[str]) -> list[str]:
    """The files of the folder that are published: the build's own list, or the metric's files."""
    if kind == "metric":
        return [name for name in present if any(fnmatch.fnmatchcase(name, p) and name.count("/") == p.count("/")
                                                for p in METRIC_FILES)]
    marker = written_files(folder)
    if marker is None:
        raise ValidationError(f"{folder / MARKER}: missing (the list of the files `pixret build` wrote); build the "
                              "folder with `pixret build`")
    if marker[0] != "build":
        raise ValidationError(f"{folder} is a `pixret {marker[0]}` output, not a dataset `pixret build` wrote")
    return sorted(set(marker[1]) & set(present))  # one gone missing: the card checks below say what it breaks


def _sized(folder: Path, names: list[str], uploaded: bool) -> list[tuple[str, int]]:
    """(name, bytes) of files; a link to be uploaded must stay inside the folder (its target would be uploaded)."""
    out, root = [], folder.resolve()
    for name in names:
        path = folder / name
        if uploaded and path.is_symlink():
            try:
                target = path.resolve(strict=True)
            except (OSError, RuntimeError):
                raise ValidationError(f"{path}: a broken or looping link") from None
            if root not in target.parents:
                raise ValidationError(f"{path}: a link to {target}, outside {folder}: it would upload that")
        out.append((name, path.stat().st_size if uploaded else path.lstat().st_size))
    return out


def secret_kind(name: str) -> str | None:
    """What a file name says it holds, when that looks like a secret (a token, an environment file, a key)."""
    base = PurePosixPath(name).name.lower()
    word = next((w for w in SECRET_WORDS if w in base), None)
    if word:
        return f"its name says {word}"
    if base in SECRET_NAMES:
        return SECRET_NAMES[base]
    return next((what for pattern, what in SECRET_PATTERNS.items() if fnmatch.fnmatchcase(base, pattern)), None)


def _warn_left(plan: Plan) -> None:
    """A warning for the files that stay home, and a loud one for each that looks like a secret."""
    if not plan.left:
        return
    names = [name for name, _ in plan.left]
    owner = "`pixret build` did not write them" if plan.kind == "dataset" else (
        f"they are not the metric's files ({', '.join(METRIC_FILES)})")
    warnings.warn(f"{len(names)} files in {plan.folder} are not uploaded: {owner} ({', '.join(names[:5])}"
                  f"{' ...' if len(names) > 5 else ''})", stacklevel=3)
    for name in names:
        kind = secret_kind(name)
        if kind:
            warnings.warn(f"{plan.folder / name} LOOKS LIKE A SECRET ({kind}): it is NOT uploaded, but keep secrets "
                          "out of a folder you publish", stacklevel=3)


def card_links(text: str) -> list[str]:
    """Targets of the Markdown links and images and HTML src/href of a card body."""
    body = text.split("\n---", 1)[1] if text.startswith("---") else text
    body = re.sub(r"```.*?```", "", body, flags=re.S)  # code is not links
    return re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", body) + re.findall(r"(?:src|href)=\"([^\"]+)\"", body)


def broken_links(text: str, names: set[str]) -> list[str]:
    """Card links that neither are absolute URLs nor name a file of the folder."""
    def in_repo(link: str) -> bool:
        path = link.split("#")[0]
        return (path[2:] if path.startswith("./") else path) in names

    return [link for link in card_links(text) if not re.match(r"^(https?:|mailto:|#)", link) and not in_repo(link)]


def _start(kind: str, folder, repo_id: str) -> tuple[Plan, Path, str]:
    folder = Path(folder)
    if not folder.is_dir():
        raise ValidationError(f"{folder}: folder not found")
    readme = folder / "README.md"
    if not readme.is_file():
        raise ValidationError(f"{readme}: no {kind} card" + (" (build the folder with `pixret build`)"
                                                              if kind == "dataset" else ""))
    present = _all_files(folder)
    own = _own_files(kind, folder, present)
    left = [name for name in present if name not in set(own) and name != MARKER]
    plan = Plan(kind, folder, repo_id, _sized(folder, own, True), left=_sized(folder, left, False))
    _warn_left(plan)
    try:
        text = readme.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValidationError(f"{readme}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    broken = broken_links(text, {path for path, _ in plan.files})
    if broken:
        raise ValidationError(f"{readme}: links to files the repo would not have: {broken}")
    plan.checks.append(f"{len(card_links(text))} links and images of the card resolve")
    return plan, readme, text


def plan_dataset(folder, repo_id: str, allow_synthetic: bool = False) -> Plan:
    from huggingface_hub import DatasetCard

    plan, readme, _ = _start("dataset", folder, repo_id)
    data = _card_data(DatasetCard, readme)
    for key in ("pretty_name", "license", "configs", "dataset_info"):
        if not data.get(key):
            raise ValidationError(f"{readme}: the card's YAML lacks '{key}' (build the folder with `pixret build`)")
    if data.get("license") == "other" and not (data.get("license_name") and data.get("license_link")):
        raise ValidationError(f"{readme}: license 'other' needs license_name and license_link")
    report = _report(plan.folder)
    if (plan.folder / hub_eval.EVAL_YAML).is_file():
        plan.checks.append(_check_eval_yaml(plan.folder / hub_eval.EVAL_YAML, data.configs, report))
    elif report.get("benchmark") is not None:
        warnings.warn(f"{plan.folder} has no {hub_eval.EVAL_YAML}: the dataset will not be a Hub Benchmark with "
                      "leaderboards (rebuild it with this pixret)", stacklevel=2)
    if report.get("benchmark") is None:
        what = "a synthetic demo" if report.get("synthetic") else "not the benchmark (custom data)"
        if "demo" not in repo_id.lower() and not allow_synthetic:
            raise ValidationError(f"{plan.folder} is {what}: upload it to a repo whose name says demo "
                                  f"(e.g. {repo_id}-demo), or pass --allow-synthetic")
        plan.checks.append(f"the build is {what}; its card says so")
    names = [path for path, _ in plan.files]
    for config in data.configs:
        if not isinstance(config, dict) or not isinstance(config.get("data_files"), list) or not all(
                isinstance(f, dict) and {"split", "path"} <= set(f) for f in config["data_files"]):
            raise ValidationError(f"{readme}: config {config!r} must have data_files: a list of {{split, path}} (build "
                                  "the folder with `pixret build`)")
        for files in config["data_files"]:
            if not fnmatch.filter(names, files["path"]):
                raise ValidationError(f"{readme}: config {config['config_name']!r} split {files['split']!r}: "
                                      f"no file matches {files['path']!r}")
            try:
                split = read_split(plan.folder, config["config_name"], files["split"])
            except DatasetError as err:  # a damaged or missing shard, a card that lies: not publishable
                raise ValidationError(str(err)) from None
            plan.checks.append(f"config {config['config_name']!r} split {files['split']!r}: {split.num_rows} rows, "
                               "as the card says, every shard read")
    return plan


def _check_eval_yaml(path: Path, configs, report: dict) -> str:
    """The folder's eval.yaml against the spec and the card's configs; a build that is not the benchmark is none."""
    if report.get("synthetic"):
        raise ValidationError(f"{path}: a synthetic demo is not a benchmark: remove {path.name} (it would register "
                              "the demo as a Hub Benchmark with leaderboards)")
    if report.get("benchmark") is None:
        warnings.warn(f"{path}: this build is not one of the benchmarks (custom data): its {path.name} registers it "
                      "as a Hub Benchmark of its own", stacklevel=3)
    configs = [c for c in configs if isinstance(c, dict) and "config_name" in c]  # malformed ones: the card's check
    splits = {c["config_name"]: [f.get("split") for f in c["data_files"] if isinstance(f, dict)] for c in configs
              if isinstance(c.get("data_files"), list)}
    default = next((c["config_name"] for c in configs if c.get("default")),
                   next(iter(splits)) if len(splits) == 1 else None)
    return hub_eval.check_eval_yaml(path, splits, default, report.get("benchmark"))


def _report(folder: Path) -> dict:
    path = folder / REPORT
    try:
        report = read_report(path)
    except DatasetError as err:
        raise ValidationError(f"{err} (build the folder with `pixret build`)") from None
    if report is None:
        raise ValidationError(f"{path}: missing (build the folder with `pixret build`)")
    if "benchmark" not in report:
        raise ValidationError(f"{path}: not a pixret build report (no 'benchmark'; build the folder with `pixret "
                              "build`)")
    return report


def _card_data(card_class, readme: Path):
    try:
        return card_class.load(readme).data
    except Exception as err:  # noqa: BLE001 - YAML errors of several kinds: the card is not publishable
        raise ValidationError(f"{readme}: the card's YAML cannot be read ({str(err).splitlines()[0]})") from None


def plan_metric(folder, repo_id: str) -> Plan:
    import evaluate
    from huggingface_hub import RepoCard

    plan, readme, _ = _start("metric", folder, repo_id)
    data = _card_data(RepoCard, readme)
    missing = [key for key in SPACE_KEYS if not data.get(key)]
    if missing:
        raise ValidationError(f"{readme}: the Space header lacks {missing}")
    script = f"{repo_id.split('/')[-1]}.py"  # what evaluate.load(repo_id) fetches
    for required in (data.get("app_file"), "requirements.txt", script):
        if not (plan.folder / required).is_file():
            raise ValidationError(f"{plan.folder / required}: missing" + (
                f" (evaluate.load({repo_id!r}) runs {script}: name the Space after the script, e.g. "
                f"{repo_id.split('/')[0]}/pixret_map)" if required == script else ""))
    module = evaluate.load(str(plan.folder / script), "custom")  # as evaluate.load(repo_id) will
    plan.checks.append(f"evaluate.load({str(plan.folder / script)!r}): {type(module).__name__}")
    return plan


def check_repo_id(repo_id: str, flag: str = "--repo-id") -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise UserError(f"{flag} {repo_id!r}: {str(err).splitlines()[0]}") from None
    if repo_id.count("/") != 1:
        raise UserError(f"{flag} {repo_id!r}: expected owner/name")


def check_token(token: str | None = None) -> str:
    """The user name of a working token (before anything is uploaded)."""
    from huggingface_hub import HfApi

    try:
        return HfApi(token=token).whoami()["name"]
    except Exception as err:  # noqa: BLE001 - no token, a bad one, or no Hub: all mean no upload
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"cannot upload: no valid Hub token ({reason}); log in with `hf auth login` or set "
                        "HF_TOKEN") from None


@dataclass
class Pushed:
    """What an upload did: the commit (or pull request) of the plan's files, and for a dataset with an eval.yaml,
    that file's own commit after the data, or the Hub's refusal of it."""

    url: str
    pull_request: int | None = None
    eval_yaml_url: str | None = None
    eval_yaml_refused: str | None = None


def push(plan: Plan, private: bool = False, create_pr: bool = False, token: str | None = None) -> Pushed:
    """Upload the plan's files in one commit (or one pull request). A dataset or metric repo is created if needed;
    a model's results go to its existing repo only. A dataset's eval.yaml goes in a commit of its own, after the
    data: the Hub may refuse a Benchmark (``hub_eval.upload_eval_yaml``), and that never undoes the data."""
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.utils import HfHubHTTPError

    api = HfApi(token=token)
    if plan.kind != "results":
        extra = {"space_sdk": "gradio"} if plan.repo_type == "space" else {}
        api.create_repo(plan.repo_id, repo_type=plan.repo_type, private=private, exist_ok=True, **extra)
    later = hub_eval.EVAL_YAML if plan.kind == "dataset" else None  # uploaded after the rest
    operations = [CommitOperationAdd(path, str(plan.folder / path)) for path, _ in plan.files if path != later]
    message = (f"Add eval results ({', '.join(Path(p).stem for p, _ in plan.files)}) with pixret push"
               if plan.kind == "results" else f"Upload {plan.kind} with pixret push")
    try:
        commit = api.create_commit(plan.repo_id, operations, repo_type=plan.repo_type, create_pr=create_pr,
                                   commit_message=message)
    except HfHubHTTPError as err:
        status = getattr(err.response, "status_code", None)
        hint = " (not your model? pass --create-pr to propose the results)" if (
            status == 403 and plan.kind == "results" and not create_pr) else ""
        raise UserError(f"cannot {'open a pull request on' if create_pr else 'commit to'} {plan.repo_type} "
                        f"{plan.repo_id}: the Hub answered {hub_eval.hub_answer(err)}{hint}") from None
    pushed = Pushed(str(commit.pr_url if create_pr else getattr(commit, "commit_url", commit)),
                    getattr(commit, "pr_num", None) if create_pr else None)
    if later in {path for path, _ in plan.files}:
        pushed.eval_yaml_url, pushed.eval_yaml_refused = hub_eval.upload_eval_yaml(
            api, plan.repo_id, plan.folder / later, parent_commit=getattr(commit, "oid", None))
    return pushed


def metric_folder() -> Path:
    """The metric Space's folder: the installed package's ``pixret/metric``."""
    import importlib.resources

    return Path(str(importlib.resources.files("pixret.metric")))


def plan_results(folder, repo_id: str) -> Plan:
    """Eval results to upload: ``folder/.eval_results/*.yaml``, each checked against the Hub's schema."""
    found = hub_eval.read_eval_results(folder)
    where = Path(folder) / hub_eval.EVAL_RESULTS
    plan = Plan("results", Path(folder), repo_id,
                [(f"{hub_eval.EVAL_RESULTS}/{name}", (where / name).stat().st_size) for name in found])
    plan.checks.append(f"{len(found)} eval results files, {sum(map(len, found.values()))} results: the Hub's schema, "
                       "one value per dataset task")
    plan.results = found
    return plan


def _plan_results(args) -> Plan:
    if args.repo_id is not None or args.model_repo is None:
        raise UserError("push results: name the model with --model-repo OWNER/MODEL" +
                        (" (--repo-id is for dataset and metric)" if args.repo_id else ""))
    if args.private or args.allow_synthetic:
        raise UserError("push results: --private and --allow-synthetic are for dataset and metric")
    if args.folder is None:
        raise UserError("push results: name the folder holding .eval_results/ (pixret evaluate --eval-results DIR)")
    check_repo_id(args.model_repo, "--model-repo")
    return plan_results(args.folder, args.model_repo)


def run(args) -> int:
    if args.kind == "results":
        plan = _plan_results(args)
    else:
        if args.repo_id is None or args.model_repo or args.create_pr:
            raise UserError(f"push {args.kind}: " + ("--repo-id is required" if args.repo_id is None else
                                                     "--model-repo and --create-pr are for push results"))
        check_repo_id(args.repo_id)
        if args.folder is None:
            if args.kind == "dataset":
                raise UserError("push dataset: name the built dataset folder")
            args.folder = metric_folder()
        plan = (plan_dataset(args.folder, args.repo_id, args.allow_synthetic) if args.kind == "dataset"
                else plan_metric(args.folder, args.repo_id))
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
