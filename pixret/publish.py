"""Publishing on the Hub: a built dataset folder as a dataset repo, the metric folder (metric/pixret_map) as a
Space, or a model's eval results (leaderboard entries) to its model repo. ``pixret push`` is its command.

    plan = plan_dataset("build/proxford", "pixret/proxford")   # validated: nothing uploaded yet
    plan.files, plan.checks, plan.left                          # what goes, what was checked, what stays home
    pushed = push(plan)                                         # one commit (eval.yaml: a commit of its own)

Only the folder's own files are uploaded: for a dataset, the files ``pixret build`` wrote (the list
in its ``.pixret-output.json``, which itself stays home); for the metric, its ``*.py``, ``README.md``
and ``requirements.txt`` (until pixret is on PyPI, a wheel of this pixret is built and uploaded beside them,
and the uploaded requirements.txt names it). Anything else in the folder is listed as not uploaded, with a
warning, a loud one when its name looks like a secret (a token, .env, a key).

Before anything is uploaded the folder is validated: the card's YAML (configs and
dataset_info for a dataset, the Space header for the metric), every config's data
files, that every link and image of the card resolves inside the uploaded files (or is
an absolute URL), and that the folder loads (every config and split read from its
Parquet shards as the card describes them, or ``evaluate.load`` of the metric). A build
that is not the real benchmark (the demo world) is only uploaded to a repo whose name
says demo, or with ``allow_synthetic=True``. A dataset's eval.yaml (a Hub Benchmark) is checked
against the Hub's specification and the card's configs. Eval results are checked against
the Hub's schema, then on the Hub (``hub_eval.check_on_hub``). Then the repo id and the token are checked.

A dataset's eval.yaml is uploaded in a commit of its own, after the data: when the Hub refuses
it (pixret is not yet on its evaluation-framework list nor its Benchmark allow-list, see
docs/hub-registration.md), the dataset is there all the same and the refusal is one warning.
"""

from __future__ import annotations

import fnmatch
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pixret import hub_eval
from pixret.dataset import REPORT, DatasetError, read_report, read_split
from pixret.metric.core.errors import InputError
from pixret.outputs import MARKER, written_files

INTERRUPTED = "interrupted: the upload may be incomplete; run the same command again"
SPACE_KEYS = ("title", "sdk", "app_file", "sdk_version")
IGNORED = ("__pycache__",)  # Python's caches: never uploaded, not listed
METRIC_FILES = ("*.py", "README.md", "requirements.txt")  # the metric folder's own files (metric/pixret_map)
# Until pixret is on PyPI, the Space installs it from a wheel of this pixret uploaded beside its files; once it is,
# from PyPI at this version. Either way the Space's figures are this version's.
ON_PYPI = False
SECRET_WORDS = ("token", "secret", "credential", "password", "passwd", "apikey", "api_key")
SECRET_NAMES = {".env": "an environment file", ".netrc": "a credentials file", ".git-credentials": "a credentials "
                "file", ".pypirc": "a credentials file", ".npmrc": "a credentials file"}
SECRET_PATTERNS = {"*.pem": "a key or certificate", "*.key": "a key", "*.p12": "a key store", "*.pfx": "a key store",
                   ".env.*": "an environment file", "*.env": "an environment file",
                   **{f"id_{kind}*": "an SSH key" for kind in ("rsa", "ed25519", "ecdsa", "dsa")}}




class PublishError(InputError):
    """The folder is not ready to publish, or the Hub refuses it: the message says what and where."""


@dataclass
class Plan:
    kind: str  # "dataset", "metric" or "results"
    folder: Path
    repo_id: str
    files: list[tuple[str, int]] = field(default_factory=list)  # (relative path, bytes): what is uploaded
    sources: dict[str, Path] = field(default_factory=dict)  # path in the repo -> the file uploaded, when not folder/path
    checks: list[str] = field(default_factory=list)  # what was validated
    results: dict = field(default_factory=dict)  # results: {file name: entries}
    left: list[tuple[str, int]] = field(default_factory=list)  # the folder's other files: not uploaded

    @property
    def repo_type(self) -> str:
        return {"dataset": "dataset", "metric": "space", "results": "model"}[self.kind]


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
    raise PublishError(f"{err.filename}: cannot list its files ({err.strerror})")


def _own_files(kind: str, folder: Path, present: list[str]) -> list[str]:
    """The files of the folder that are published: the build's own list, or the metric's files."""
    if kind == "metric":
        return [name for name in present if any(fnmatch.fnmatchcase(name, p) and name.count("/") == p.count("/")
                                                for p in METRIC_FILES)]
    marker = written_files(folder)
    if marker is None:
        raise PublishError(f"{folder / MARKER}: missing (the list of the files `pixret build` wrote); build the "
                              "folder with `pixret build`")
    if marker[0] != "build":
        raise PublishError(f"{folder} is a `pixret {marker[0]}` output, not a dataset `pixret build` wrote")
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
                raise PublishError(f"{path}: a broken or looping link") from None
            if root not in target.parents:
                raise PublishError(f"{path}: a link to {target}, outside {folder}: it would upload that")
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
        raise PublishError(f"{folder}: folder not found")
    readme = folder / "README.md"
    if not readme.is_file():
        raise PublishError(f"{readme}: no {kind} card" + (" (build the folder with `pixret build`)"
                                                              if kind == "dataset" else ""))
    present = _all_files(folder)
    own = _own_files(kind, folder, present)
    left = [name for name in present if name not in set(own) and name != MARKER]
    plan = Plan(kind, folder, repo_id, _sized(folder, own, True), left=_sized(folder, left, False))
    _warn_left(plan)
    try:
        text = readme.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise PublishError(f"{readme}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    broken = broken_links(text, {path for path, _ in plan.files})
    if broken:
        raise PublishError(f"{readme}: links to files the repo would not have: {broken}")
    plan.checks.append(f"{len(card_links(text))} links and images of the card resolve")
    return plan, readme, text


def plan_dataset(folder, repo_id: str, allow_synthetic: bool = False) -> Plan:
    from huggingface_hub import DatasetCard

    plan, readme, _ = _start("dataset", folder, repo_id)
    data = _card_data(DatasetCard, readme)
    for key in ("pretty_name", "license", "configs", "dataset_info"):
        if not data.get(key):
            raise PublishError(f"{readme}: the card's YAML lacks '{key}' (build the folder with `pixret build`)")
    if data.get("license") == "other" and not (data.get("license_name") and data.get("license_link")):
        raise PublishError(f"{readme}: license 'other' needs license_name and license_link")
    report = _report(plan.folder)
    if (plan.folder / hub_eval.EVAL_YAML).is_file():
        plan.checks.append(_check_eval_yaml(plan.folder / hub_eval.EVAL_YAML, data.configs, report))
    elif report.get("benchmark") is not None:
        warnings.warn(f"{plan.folder} has no {hub_eval.EVAL_YAML}: the dataset will not be a Hub Benchmark with "
                      "leaderboards (rebuild it with this pixret)", stacklevel=2)
    if report.get("benchmark") is None:
        what = "a synthetic demo" if report.get("synthetic") else "not the benchmark (custom data)"
        if "demo" not in repo_id.lower() and not allow_synthetic:
            raise PublishError(f"{plan.folder} is {what}: upload it to a repo whose name says demo "
                                  f"(e.g. {repo_id}-demo), or pass allow_synthetic=True")
        plan.checks.append(f"the build is {what}; its card says so")
    names = [path for path, _ in plan.files]
    for config in data.configs:
        if not isinstance(config, dict) or not isinstance(config.get("data_files"), list) or not all(
                isinstance(f, dict) and {"split", "path"} <= set(f) for f in config["data_files"]):
            raise PublishError(f"{readme}: config {config!r} must have data_files: a list of {{split, path}} (build "
                                  "the folder with `pixret build`)")
        for files in config["data_files"]:
            if not fnmatch.filter(names, files["path"]):
                raise PublishError(f"{readme}: config {config['config_name']!r} split {files['split']!r}: "
                                      f"no file matches {files['path']!r}")
            try:
                split = read_split(plan.folder, config["config_name"], files["split"])
            except DatasetError as err:  # a damaged or missing shard, a card that lies: not publishable
                raise PublishError(str(err)) from None
            plan.checks.append(f"config {config['config_name']!r} split {files['split']!r}: {split.num_rows} rows, "
                               "as the card says, every shard read")
    return plan


def _check_eval_yaml(path: Path, configs, report: dict) -> str:
    """The folder's eval.yaml against the spec and the card's configs; a build that is not the benchmark is none."""
    if report.get("synthetic"):
        raise PublishError(f"{path}: a synthetic demo is not a benchmark: remove {path.name} (it would register "
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
        raise PublishError(f"{err} (build the folder with `pixret build`)") from None
    if report is None:
        raise PublishError(f"{path}: missing (build the folder with `pixret build`)")
    if "benchmark" not in report:
        raise PublishError(f"{path}: not a pixret build report (no 'benchmark'; build the folder with `pixret "
                              "build`)")
    return report


def _card_data(card_class, readme: Path):
    try:
        return card_class.load(readme).data
    except Exception as err:  # noqa: BLE001 - YAML errors of several kinds: the card is not publishable
        raise PublishError(f"{readme}: the card's YAML cannot be read ({str(err).splitlines()[0]})") from None


def plan_metric(folder, repo_id: str, wheel=None) -> Plan:
    """The metric Space (``folder``; None: ``metric_folder()``): its card, app, script and requirements, and the
    pixret it installs.

    requirements.txt names pixret on a line of its own; the uploaded copy names this version: ``pixret==VERSION``
    from PyPI once it is there (``ON_PYPI``), until then ``./<wheel>``, a wheel of this pixret uploaded beside it
    (``wheel``: one already built; else it is built from the clone, which takes setuptools)."""
    import evaluate
    from huggingface_hub import RepoCard

    plan, readme, _ = _start("metric", metric_folder() if folder is None else folder, repo_id)
    data = _card_data(RepoCard, readme)
    missing = [key for key in SPACE_KEYS if not data.get(key)]
    if missing:
        raise PublishError(f"{readme}: the Space header lacks {missing}")
    script = f"{repo_id.split('/')[-1]}.py"  # what evaluate.load(repo_id) fetches
    for required in (data.get("app_file"), "requirements.txt", script):
        if not (plan.folder / required).is_file():
            raise PublishError(f"{plan.folder / required}: missing" + (
                f" (evaluate.load({repo_id!r}) runs {script}: name the Space after the script, e.g. "
                f"{repo_id.split('/')[0]}/pixret_map)" if required == script else ""))
    module = evaluate.load(str(plan.folder / script), "custom")  # as evaluate.load(repo_id) will
    plan.checks.append(f"evaluate.load({str(plan.folder / script)!r}): {type(module).__name__}")
    _pin_pixret(plan, wheel)
    return plan


def _pin_pixret(plan: Plan, wheel) -> None:
    """The uploaded requirements.txt names this pixret: from PyPI, or a wheel uploaded with the Space."""
    import tempfile

    from pixret.version import __version__

    lines = (plan.folder / "requirements.txt").read_text(encoding="utf-8").splitlines()
    at = [k for k, line in enumerate(lines) if re.fullmatch(r"pixret\b[^#]*", line.strip())]
    if len(at) != 1:
        raise PublishError(f"{plan.folder / 'requirements.txt'}: expected one line naming pixret (the Space runs it)")
    if ON_PYPI:
        lines[at[0]] = f"pixret=={__version__}"
    else:
        wheel = Path(wheel) if wheel is not None else build_wheel(Path(tempfile.mkdtemp(prefix="pixret-wheel-")))
        if not re.fullmatch(rf"pixret-{re.escape(__version__)}-py3-none-any\.whl", wheel.name):
            raise PublishError(f"{wheel}: not a wheel of pixret {__version__} (this pixret)")
        lines[at[0]] = f"./{wheel.name}"  # pip reads it relative to the Space's folder, where Spaces run it
        plan.files.append((wheel.name, wheel.stat().st_size))
        plan.sources[wheel.name] = wheel
    pinned = Path(tempfile.mkdtemp(prefix="pixret-space-")) / "requirements.txt"
    pinned.write_text("\n".join(lines) + "\n", encoding="utf-8")
    plan.files = [(path, pinned.stat().st_size if path == "requirements.txt" else size) for path, size in plan.files]
    plan.sources["requirements.txt"] = pinned
    plan.checks.append(f"requirements.txt installs pixret {__version__}: {lines[at[0]]}")


def build_wheel(out_dir: Path) -> Path:
    """A wheel of this pixret, built from its clone (the folder holding pyproject.toml) into ``out_dir``."""
    import shutil
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    if not (root / "pyproject.toml").is_file():
        raise PublishError(f"{root}: not a clone of pixret (no pyproject.toml): the Space's wheel is built from a "
                           "clone; pass wheel=... (a wheel of this pixret)")
    source = out_dir / "source"  # a copy: building writes build/ and *.egg-info, never into the clone
    shutil.copytree(root, source, ignore=shutil.ignore_patterns(".git", "tests", "build", "dist", "*.egg-info",
                                                                 "__pycache__", "demo_output", "benchmarks", "docs"))
    done = subprocess.run([sys.executable, "-c", "import sys; from setuptools import build_meta; "
                           "build_meta.build_wheel(sys.argv[1])", str(out_dir)], cwd=source, capture_output=True,
                          text=True)
    shutil.rmtree(source, ignore_errors=True)
    wheels = sorted(out_dir.glob("pixret-*.whl"))
    if done.returncode or not wheels:
        reason = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
        raise PublishError(f"cannot build the wheel the Space installs ({reason}); it needs setuptools")
    return wheels[-1]


def check_repo_id(repo_id: str, name: str = "repo_id") -> None:
    """A Hub repo id owner/name (``name``: the parameter it came as, for the message)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise PublishError(f"{name}={repo_id!r}: {str(err).splitlines()[0]}") from None
    if repo_id.count("/") != 1:
        raise PublishError(f"{name}={repo_id!r}: expected owner/name")


def check_token(token: str | None = None) -> str:
    """The user name of a working token (before anything is uploaded)."""
    from huggingface_hub import HfApi

    try:
        return HfApi(token=token).whoami()["name"]
    except Exception as err:  # noqa: BLE001 - no token, a bad one, or no Hub: all mean no upload
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PublishError(f"cannot upload: no valid Hub token ({reason}); log in with `hf auth login` or set "
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
    operations = [CommitOperationAdd(path, str(plan.sources.get(path, plan.folder / path))) for path, _ in plan.files
                  if path != later]
    message = (f"Add eval results ({', '.join(Path(p).stem for p, _ in plan.files)}) with pixret push"
               if plan.kind == "results" else f"Upload {plan.kind} with pixret push")
    try:
        commit = api.create_commit(plan.repo_id, operations, repo_type=plan.repo_type, create_pr=create_pr,
                                   commit_message=message)
    except HfHubHTTPError as err:
        status = getattr(err.response, "status_code", None)
        hint = " (not your model? pass create_pr=True to propose the results)" if (
            status == 403 and plan.kind == "results" and not create_pr) else ""
        raise PublishError(f"cannot {'open a pull request on' if create_pr else 'commit to'} {plan.repo_type} "
                        f"{plan.repo_id}: the Hub answered {hub_eval.hub_answer(err)}{hint}") from None
    pushed = Pushed(str(commit.pr_url if create_pr else getattr(commit, "commit_url", commit)),
                    getattr(commit, "pr_num", None) if create_pr else None)
    if later in {path for path, _ in plan.files}:
        pushed.eval_yaml_url, pushed.eval_yaml_refused = hub_eval.upload_eval_yaml(
            api, plan.repo_id, plan.folder / later, parent_commit=getattr(commit, "oid", None))
    return pushed


def metric_folder() -> Path:
    """The metric Space's folder, ``metric/pixret_map`` of the clone this pixret runs from."""
    folder = Path(__file__).resolve().parents[1] / "metric" / "pixret_map"
    if not folder.is_dir():
        raise PublishError(f"{folder}: not found: the metric Space is the folder metric/pixret_map of a clone of "
                           "pixret's repository (an installed pixret has no such folder); name the folder")
    return folder


def plan_results(folder, model_repo: str) -> Plan:
    """Eval results to upload to the model repo ``model_repo``: ``folder/.eval_results/*.yaml``, each checked against
    the Hub's schema."""
    found = hub_eval.read_eval_results(folder)
    where = Path(folder) / hub_eval.EVAL_RESULTS
    plan = Plan("results", Path(folder), model_repo,
                [(f"{hub_eval.EVAL_RESULTS}/{name}", (where / name).stat().st_size) for name in found])
    plan.checks.append(f"{len(found)} eval results files, {sum(map(len, found.values()))} results: the Hub's schema, "
                       "one value per dataset task")
    plan.results = found
    return plan


