"""No command deletes or overwrites what the user did not ask it to: --overwrite replaces only the same command's own
output (its .pixret-output.json marker), files are written only over regular files, SIGTERM / SIGHUP leave
nothing, a failed build leaves no parent folder it made, push uploads only the folder's own files."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pixret import outputs
from pixret.cli import main
from pixret.dataset import DatasetError, open_dataset
from pixret.outputs import MARKER

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
METRIC_DIR = Path(__file__).resolve().parents[1] / "metric" / "pixret_map"


@pytest.fixture
def files(tiny_dataset, tmp_path):
    """Result files for the tiny dataset: ground-truth predictions and ranks."""
    data = open_dataset(tiny_dataset["out"])
    entries = [{"query_id": r["query_id"], "index_id": r["index_id"], "segmentation": r["mask"]}
               for r in data.split("medium") if r["mask"] is not None]
    (tmp_path / "preds.json").write_text(json.dumps(entries))
    np.save(tmp_path / "ranks.npy", np.tile(np.arange(12), (4, 1)))
    return {"dir": tmp_path, "dataset": str(tiny_dataset["out"]), "release": str(tiny_dataset["root"])}


def _home(folder: Path) -> Path:
    """A folder like a home folder: someone's Documents/ in it."""
    (folder / "Documents").mkdir(parents=True)
    (folder / "Documents" / "thesis.txt").write_text("four years of work")
    return folder


COMMANDS = {  # command: argv writing the folder `out`
    "export-coco": lambda f, out: ["export-coco", "--dataset", f["dataset"], "--output", str(out),
                                   "--protocols", "medium"],
    "build": lambda f, out: ["build", "--benchmark", "proxford", "--labels", f["release"], "--output", str(out)],
    "show": lambda f, out: ["show", "--dataset", f["dataset"], "--ranks", f"{f['dir']}/ranks.npy", "--output",
                            str(out), "--queries", "0", "--top-k", "2"],
    "evaluate --plots": lambda f, out: ["evaluate", "--dataset", f["dataset"], "--predictions",
                                        f"{f['dir']}/preds.json", "--ranks", f"{f['dir']}/ranks.npy",
                                        "--protocols", "medium", "--plots", str(out)],
    "demo": lambda f, out: ["demo", "--small", "--output", str(out)],
}


def _error(capsys) -> str:
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and "Traceback" not in captured.err, captured.err
    return err


@pytest.mark.parametrize("command", COMMANDS)
def test_overwrite_refuses_a_folder_the_command_did_not_write(command, files, tmp_path, capsys, monkeypatch):
    """`pixret export-coco --output ~ --overwrite` wiped a home folder: now every command refuses it, and a link to
    it, saying why; nothing in it is touched and nothing is left beside it."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    home = _home(tmp_path / "home")
    link = tmp_path / "link"
    link.symlink_to(home)
    for output in (home, link):
        assert main(COMMANDS[command](files, output) + ["--overwrite"] * (command != "demo")) == 1
        err = _error(capsys)
        assert f"--{'plots' if command == 'evaluate --plots' else 'output'} {output} exists and is not an earlier " \
               f"`pixret {command}` output (it has no {MARKER})" in err, err
        assert (home / "Documents" / "thesis.txt").read_text() == "four years of work"
        assert sorted(p.name for p in home.iterdir()) == ["Documents"]
    assert link.is_symlink() and sorted(p.name for p in tmp_path.iterdir()) == ["home", "link", "preds.json",
                                                                               "ranks.npy"]


def test_overwrite_replaces_only_the_same_commands_untouched_output(files, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "coco"
    export = COMMANDS["export-coco"](files, out)
    assert main(export) == 0
    marker = json.loads((out / MARKER).read_text())
    assert marker["command"] == "export-coco" and marker["files"] == ["medium.json"]
    assert main(export) == 1
    assert _error(capsys).endswith(f"{out} exists; pass --overwrite to replace it")
    (out / "medium.json").write_text("old")
    assert main(export + ["--overwrite"]) == 0  # its own output, edited: replaced whole
    assert json.loads((out / "medium.json").read_text())["categories"][0]["name"] == "target"

    (out / "notes.txt").write_text("mine")  # a file the command did not write: refused, nothing replaced
    (out / "sub").mkdir()
    assert main(export + ["--overwrite"]) == 1
    assert "holds 2 files `pixret export-coco` did not write (notes.txt, sub/): move them out" in _error(capsys)
    assert (out / "notes.txt").read_text() == "mine"
    (out / "notes.txt").unlink()
    (out / "sub").rmdir()

    show = COMMANDS["show"](files, out) + ["--overwrite"]  # another command's output: refused
    assert main(show) == 1
    assert f"--output {out} is an earlier `pixret export-coco` output, not a `pixret show` one" in _error(capsys)
    (out / MARKER).write_text("{not json")
    assert main(export + ["--overwrite"]) == 1
    assert f"{out / MARKER}: not valid JSON (Expecting property name enclosed in double quotes at line 1 column 2)" \
        in _error(capsys)
    assert (out / "medium.json").exists()


def test_empty_folder_is_filled_and_a_link_keeps_pointing_to_the_new_output(files, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(COMMANDS["export-coco"](files, empty)) == 0  # no --overwrite needed: nothing to lose
    assert sorted(p.name for p in empty.iterdir()) == [MARKER, "medium.json"]

    target = tmp_path / "disk" / "coco"
    shutil.copytree(empty, target)
    link = tmp_path / "coco"
    link.symlink_to(target)
    (target / "medium.json").write_text("old")
    assert main(COMMANDS["export-coco"](files, link) + ["--overwrite"]) == 0
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert json.loads((target / "medium.json").read_text())["images"]  # the new output, at the link's target
    assert sorted(p.name for p in target.parent.iterdir()) == ["coco"]  # no staging or old copy left


def test_build_overwrite_replaces_an_earlier_build_only(files, tmp_path, capsys):
    out = tmp_path / "ds"
    build = COMMANDS["build"](files, out)
    assert main(build) == 0
    assert main(build + ["--overwrite"]) == 0
    assert json.loads((out / MARKER).read_text())["command"] == "build"
    (out / "hf_token.txt").write_text("hf_secret")
    assert main(build + ["--overwrite"]) == 1
    assert "holds 1 file `pixret build` did not write (hf_token.txt)" in _error(capsys)
    assert (out / "hf_token.txt").read_text() == "hf_secret"


def test_a_crafted_marker_is_refused_at_once(files, tmp_path, capsys):
    """A marker of millions of names, or of keys, is refused by its size or at its first object, each in a fraction
    of a CPU second (3 M names took 20 before), in one line naming the file."""
    out = tmp_path / "coco"
    out.mkdir()
    (out / "medium.json").write_text("{}")
    marker = out / MARKER
    crafted = {
        json.dumps({"command": "export-coco", "files": ["medium.json"] * 3_000_000}):
            f"{marker}: 45,000,037 bytes, more than a pixret output marker holds (1,048,576 at most): not one pixret "
            "wrote",
        "{" + ",".join(f'"k{k}": 0' for k in range(80_000)) + "}":
            f"{marker}: not valid JSON for pixret (an object of 80,000 keys, where a marker's has 3)",
        json.dumps({"command": "export-coco", "files": ["medium.json"] * 5 + [7] + ["medium.json"] * 60_000}):
            f"{marker}: files[5] is int, not a file name: not a pixret output marker",
        '{"command": "export-coco", "files": [], "files": ["medium.json"]}':
            f"{marker}: not valid JSON for pixret (an object has the key 'files' twice)",
    }
    for text, said in crafted.items():
        marker.write_text(text)
        start = time.process_time()
        with pytest.raises(outputs.OutputError) as refused:
            outputs.check_folder(out, "export-coco", overwrite=True)
        assert time.process_time() - start < 0.5, said
        assert str(refused.value) == said
    assert main(COMMANDS["export-coco"](files, out) + ["--overwrite"]) == 1
    assert _error(capsys) == f"error: {marker}: not valid JSON for pixret (an object has the key 'files' twice)"
    assert (out / "medium.json").read_text() == "{}"


def test_a_large_marker_is_checked_in_one_pass(tmp_path):
    """The largest marker accepted (some 80,000 names), and the files it lists in folders: what is not its own is
    found, folders holding its files are its own, and the check costs a fraction of a CPU second."""
    out = tmp_path / "out"
    (out / "a" / "b").mkdir(parents=True)
    (out / "a" / "b" / "c.txt").write_text("ours")
    (out / "a" / "x").mkdir()  # a folder it did not make (empty)
    (out / "ab").write_text("not ours: a name a listed folder starts with")
    files = ["a/b/c.txt", *(f"f{k:05d}" for k in range(80_000))]
    (out / MARKER).write_text(json.dumps({"command": "export-coco", "files": files}))
    assert (out / MARKER).stat().st_size < outputs.MARKER_LIMIT
    start = time.process_time()
    with pytest.raises(outputs.OutputExists, match=r"holds 2 files `pixret export-coco` did not write \(a/x/, ab\)"):
        outputs.check_folder(out, "export-coco", overwrite=True)
    assert time.process_time() - start < 0.5
    (out / "a" / "x").rmdir()
    (out / "ab").unlink()
    assert outputs.check_folder(out, "export-coco", overwrite=True) == out.resolve()


# ---------------------------------------------------------------- evaluate --per-query / --plots
def _evaluate(files, *extra):
    return main(["evaluate", "--dataset", files["dataset"], "--predictions", f"{files['dir']}/preds.json",
                 "--ranks", f"{files['dir']}/ranks.npy", "--protocols", "medium", "--format", "json", *extra])


def test_per_query_file_is_replaced_only_when_asked(files, tmp_path, capsys):
    csv = tmp_path / "pq.csv"
    csv.write_text("my notes")
    assert _evaluate(files, "--per-query", str(csv)) == 1
    assert _error(capsys).endswith(f"--per-query {csv} exists; pass --overwrite to replace it")
    assert csv.read_text() == "my notes"
    assert _evaluate(files, "--per-query", str(csv), "--overwrite") == 0
    assert csv.read_text().startswith("protocol,query_id,miou_det")
    capsys.readouterr()
    target = tmp_path / "kept.csv"
    target.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    assert _evaluate(files, "--per-query", str(link), "--overwrite") == 0  # written at the link's target
    assert link.is_symlink() and target.read_text().startswith("protocol,")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def _specials(tmp_path: Path) -> dict:
    """Things that are not regular files: a folder, a FIFO, a socket, and (as root) a character device like
    /dev/null (made here: the real one is never put at risk)."""
    made = {"folder": tmp_path / "folder", "fifo": tmp_path / "fifo", "socket": tmp_path / "socket"}
    made["folder"].mkdir()
    os.mkfifo(made["fifo"])
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(made["socket"]))
    server.close()
    if os.geteuid() == 0:
        made["device"] = tmp_path / "null"
        os.mknod(made["device"], stat.S_IFCHR | 0o666, os.makedev(1, 3))
    return made


def test_per_query_never_replaces_what_is_not_a_regular_file(files, tmp_path, capsys):
    kinds = {"folder": "a folder", "fifo": "a named pipe (FIFO)", "socket": "a socket", "device": "a character device"}
    (tmp_path / "special").mkdir()
    for name, path in _specials(tmp_path / "special").items():
        mode = path.lstat().st_mode
        for extra in ([], ["--overwrite"]):
            assert _evaluate(files, "--per-query", str(path), *extra) == 1
            assert _error(capsys).endswith(f"--per-query {path} is {kinds[name]}: pixret replaces only regular files; "
                                           "name a file to write")
            assert path.lstat().st_mode == mode  # still what it was
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_plots_folder_follows_the_output_folder_rule(files, tmp_path, capsys):
    plots = tmp_path / "plots"
    assert _evaluate(files, "--plots", str(plots)) == 0
    capsys.readouterr()
    written = json.loads((plots / MARKER).read_text())
    assert written["command"] == "evaluate --plots" and "map_vs_threshold.png" in written["files"]
    assert _evaluate(files, "--plots", str(plots)) == 1
    assert _error(capsys).endswith(f"{plots} exists; pass --overwrite to replace it")
    assert _evaluate(files, "--plots", str(plots), "--overwrite") == 0
    capsys.readouterr()
    (plots / "mine.png").write_bytes(b"x")
    assert _evaluate(files, "--plots", str(plots), "--overwrite") == 1
    assert "holds 1 file `pixret evaluate --plots` did not write (mine.png)" in _error(capsys)
    (tmp_path / "notes.txt").write_text("mine")
    assert _evaluate(files, "--plots", str(tmp_path / "notes.txt"), "--overwrite") == 1
    assert _error(capsys).endswith(f"--plots {tmp_path / 'notes.txt'} exists and is not a folder: name a new folder")
    assert (tmp_path / "notes.txt").read_text() == "mine"


# ---------------------------------------------------------------- signals, failed builds: nothing left
ENV = {**os.environ, "PYTHONWARNINGS": "ignore", "HF_HUB_OFFLINE": "1"}


@pytest.fixture
def signalled_at(holding):
    """``signalled_at(argv, point, signum, cwd)``: run `pixret ...` held at ``point`` (testhook), send ``signum``
    there; (exit code, stdout, stderr)."""
    def run(argv, point: str, signum: int, cwd: Path):
        with holding.Held(["pixret", *argv], point, env=ENV, cwd=cwd) as held:
            assert held.wait() == f"{point}#1", held.finish()
            held.process.send_signal(signum)
            held.go()
            return held.finish()

    return run


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_terminated_build_leaves_nothing(signum, tiny_dataset, tmp_path, signalled_at):
    out = tmp_path / "new" / "deeper" / "out"
    code, stdout, stderr = signalled_at(["build", "--benchmark", "proxford", "--labels", str(tiny_dataset["root"]),
                                         "--output", str(out)], "outputs.staged", signum, tmp_path)
    assert code == 128 + signum, (stdout, stderr)
    assert stderr.strip() == (f"terminated: {signal.Signals(signum).name}; nothing was written (the partial build was "
                              "removed)")
    assert list(tmp_path.iterdir()) == []  # no out, no staging, no new/deeper/


def test_terminated_demo_leaves_nothing_and_keeps_the_earlier_output(tmp_path, signalled_at):
    out = tmp_path / "out"
    out.mkdir()
    (out / MARKER).write_text(json.dumps({"command": "demo", "files": ["results.json"]}))
    (out / "results.json").write_text("earlier")
    code, stdout, stderr = signalled_at(["demo", "--small", "--output", str(out)], "outputs.staged", signal.SIGTERM,
                                        tmp_path)
    assert code == 143, (stdout, stderr)
    assert stderr.strip().splitlines()[-1] == ("terminated: SIGTERM; nothing was written (the partial demo output "
                                               "was removed)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and (out / "results.json").read_text() == "earlier"


# One process runs the commands one after another (imports paid once); the test holds each at a point and signals it.
_DRIVER = """
import contextlib, io, json, os, sys
from pixret import outputs, testhook
from pixret.cli import main

said = int(os.environ[testhook.FDS].split(",")[0])
for request in sys.stdin:
    argv, points = json.loads(request)
    testhook.configure(points)
    printed = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(printed):
        code = main(argv)
    os.write(said, ("done " + json.dumps([code, printed.getvalue()]) + "\\n").encode())
"""
STOPS = (signal.SIGTERM, signal.SIGHUP)  # after one of these, the other is ignored (the clean-up is not cut short)


def _exit_code(signum: int) -> int:
    return 130 if signum == signal.SIGINT else 128 + signum


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir())


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_that_a_library_turned_into_its_error_is_still_a_stop(capsys, signum):
    """A signal whose exception is raised inside a library that reports an error of its own instead (numpy
    retrying pycocotools' __array__ did: "unexpected TypeError ... may be a pixret bug"): the command ends as the
    signal says."""
    import argparse

    from pixret.cli import run

    def converting(args):
        try:
            signal.raise_signal(signum)  # the handler raises here, as in the library's call
        except KeyboardInterrupt:
            raise TypeError("__array__() got an unexpected keyword argument 'copy'") from None

    # as in a terminal, also where the suite runs with them ignored (a background job of a script ignores SIGINT)
    previous = {signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
                signal.SIGTERM: signal.signal(signal.SIGTERM, signal.SIG_DFL)}
    try:
        code = run(converting, argparse.Namespace(debug=False, parser=None), "interrupted: nothing was written")
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handlers as they were
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    err = capsys.readouterr().err
    assert code == _exit_code(signum), err
    assert err.strip() == ("interrupted: nothing was written" if signum == signal.SIGINT
                           else "terminated: SIGTERM; nothing was written")


def test_a_second_signal_while_the_build_threads_stop_waits_for_them(tiny_dataset, tmp_path, holding):
    """Ctrl-C while the labels are read (the images' config being written on another thread), then SIGTERM while
    the build waits for its threads to stop: the second waits too, the staged output is removed once nothing
    writes into it, and the command ends as SIGTERM says, leaving nothing."""
    def argv(out):  # two threads whatever the machine: the threaded path
        return ["pixret", "build", "--benchmark", "proxford", "--labels", str(tiny_dataset["root"]), "--num-proc",
                "2", "--output", str(out)]

    with holding.Held(argv(tmp_path / "listed" / "out"), "list", env=ENV) as listing:
        points = [rest for kind, rest in iter(listing.line, None) if kind == "point"]
        assert listing.finish()[0] == 0
    after_staged = points.index("outputs.staged#1") + 1
    assert points[after_staged].startswith("progress#")  # the labels' first step: write_configs has begun
    out = tmp_path / "new" / "out"
    with holding.Held(argv(out), f"#{after_staged + 1},build.stopping", env=ENV) as held:
        assert held.wait() == points[after_staged]
        held.process.send_signal(signal.SIGINT)
        held.go()
        assert held.wait() == "build.stopping#1"
        held.process.send_signal(signal.SIGTERM)
        held.go()
        code, _, stderr = held.finish()
    assert code == _exit_code(signal.SIGTERM), stderr
    assert stderr.strip().splitlines()[-1] == "terminated: SIGTERM; nothing was written (the partial build was removed)"
    assert not (tmp_path / "new").exists()


def test_fifty_signals_leave_no_staging_and_the_output_whole_or_absent(tiny_dataset, tmp_path, holding):
    """SIGINT, SIGTERM or SIGHUP at 50 points of a build (new, or replacing an earlier one) and of the demo (up to
    its build in place), some with a second signal during the clean-up: never a staging folder or file left, the
    output absent (an earlier one untouched) or whole, and the last line says which."""
    rng = random.Random(23)
    whole = _files(tiny_dataset["out"])  # a build of the same release
    build = ["build", "--benchmark", "proxford", "--labels", str(tiny_dataset["root"]), "--output"]
    scenarios = {  # name: (argv, output, the command's "nothing was written" line)
        "new build": (build + [str(tmp_path / "a" / "new" / "out")], tmp_path / "a" / "new" / "out",
                      "interrupted: nothing was written (the partial build was removed)"),
        "replacing build": (build + [str(tmp_path / "b" / "out"), "--overwrite"], tmp_path / "b" / "out",
                            "interrupted: nothing was written (the partial build was removed)"),
        "demo": (["demo", "--small", "--output", str(tmp_path / "c" / "out")], tmp_path / "c" / "out",
                 "interrupted: nothing was written (the partial demo output was removed)"),
    }
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
    earlier = tmp_path / "b" / "out"

    def lay_earlier():
        if (earlier / "build_report.json").is_file() and (earlier / "build_report.json").read_text() == "earlier":
            return
        shutil.rmtree(earlier, ignore_errors=True)
        shutil.copytree(tiny_dataset["out"], earlier)
        (earlier / "build_report.json").write_text("earlier")  # its own file, edited: still replaceable

    with holding.Held([sys.executable, "-c", _DRIVER], "", env=ENV, cwd=tmp_path, stdin=subprocess.PIPE) as driver:
        def run(argv, points: str, signals=()):
            driver.process.stdin.write(json.dumps([argv, points]) + "\n")
            driver.process.stdin.flush()
            said, signals = [], list(signals)
            while True:
                kind, rest = driver.line()
                if kind == "done":
                    return said, json.loads(rest)
                said.append(rest)  # a point listed, or held at: signalled there
                if kind == "held":
                    driver.process.send_signal(signals.pop(0))
                    driver.go()

        points = {}
        lay_earlier()
        for scenario in ("new build", "replacing build"):
            listed, (code, err) = run(scenarios[scenario][0], "list")
            assert code == 0, err
            points[scenario] = listed
        staging = {scenario: [p for p in listed if not p.startswith("progress#")]
                   for scenario, listed in points.items()}
        assert staging["new build"] == ["outputs.making#1", "outputs.staged#1", "outputs.writing#1", "outputs.filled#1",
                                        "outputs.marked#1", "outputs.swapped#1"]  # the build_report.json is written
        assert staging["replacing build"] == [*staging["new build"][:-1], "outputs.swapping#1", "outputs.swapped#1"]
        assert len(points["new build"]) > 40  # progress: labels read, images checked, rows written
        shutil.rmtree(tmp_path / "a" / "new")
        # the demo: its staging folder made and there, its build's staging inside it (the world generated), and that
        # build in place inside it, which the demo must still remove (what follows is costly, and the same staged
        # folder as a build's); points count in the order they are reached
        points["demo"] = ["outputs.making#1", "outputs.staged#1", "outputs.staged#2", "outputs.swapped#1"]
        # every staging point, then progress points (any moment of the work) up to 50 different points in all
        chosen = [(scenario, point) for scenario in points for point in points[scenario]
                  if scenario == "demo" or not point.startswith("progress#")]
        chosen += rng.sample([(scenario, point) for scenario in ("new build", "replacing build")
                              for point in points[scenario] if point.startswith("progress#")], 50 - len(chosen))
        assert len(set(chosen)) == 50
        chosen = [(scenario, point, rng.choice(SIGNALS)) for scenario, point in chosen]
        for scenario, point, first in chosen:
            argv, out, nothing = scenarios[scenario]
            if scenario == "replacing build":
                lay_earlier()
            second = rng.choice(SIGNALS) if rng.random() < 0.4 else None
            said, (code, err) = run(argv, f"{point},outputs.discarding" if second else point,
                                    [first, second] if second else [first])
            case = f"{scenario}, {signal.Signals(first).name} at {point}, then {second and signal.Signals(second).name}"
            assert said == [point, "outputs.discarding#1"][:len(said)] and len(said) >= 1, case
            if len(said) == 1:  # stopped before the output was begun: nothing to clean up, the second not sent
                second = None
            ends = second if second and not (first in STOPS and second in STOPS) else first
            assert code == _exit_code(ends), (case, err)
            # a signal during the swap waits for its end: the new output is then in place, whole
            done = point in ("outputs.swapping#1", "outputs.swapped#1") and scenario != "demo"
            line = (f"interrupted: {out} had been written whole; stopped after that" if done else nothing)
            if ends != signal.SIGINT:
                line = f"terminated: {signal.Signals(ends).name}; {line.removeprefix('interrupted: ')}"
            assert err.strip().splitlines()[-1] == line, (case, err)
            left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")
                          if p.name.startswith(".") and p.name != MARKER)
            assert left == [], (case, left)  # no staging folder, no half-written file, no old output aside
            if done:
                assert _files(out) == whole, case
                assert (out / "build_report.json").read_text() != "earlier", case
            elif scenario == "replacing build":
                assert _files(out) == whole and (out / "build_report.json").read_text() == "earlier", case
            else:  # nothing, not even the parent folders the build made
                assert list((tmp_path / {"new build": "a", "demo": "c"}[scenario]).iterdir()) == [], case
            if done and scenario == "new build":
                shutil.rmtree(out.parent)
        driver.process.stdin.close()
        code, _, stderr = driver.finish()
        assert code == 0, stderr


def test_failed_build_removes_the_parent_folders_it_made(release, tmp_path, capsys):
    label = next((release["root"] / "labels").rglob("*.json"))
    label.write_text("{not json")  # found while the build writes: after its folders were made
    out = tmp_path / "new" / "deeper" / "out"
    argv = ["build", "--benchmark", "proxford", "--labels", str(release["root"]), "--output", str(out)]
    assert main(argv) == 1
    assert str(label) in _error(capsys)
    assert not (tmp_path / "new").exists()
    (tmp_path / "kept").mkdir()  # a parent that was there before stays
    assert main(argv[:-1] + [str(tmp_path / "kept" / "new" / "out")]) == 1
    assert [p.name for p in (tmp_path / "kept").iterdir()] == []


# ---------------------------------------------------------------- push: the folder's own files only
def test_push_uploads_only_the_builds_files(tiny_dataset, tmp_path, capsys):
    folder = tmp_path / "ds"
    shutil.copytree(tiny_dataset["out"], folder)
    written = json.loads((folder / MARKER).read_text())["files"]
    for name in ("hf_token.txt", ".env", "notes.md", "keys/server.pem"):
        (folder / name).parent.mkdir(exist_ok=True)
        (folder / name).write_text("x")
    assert main(["push", "dataset", str(folder), "--repo-id", "x/y-demo", "--dry-run"]) == 0
    captured = capsys.readouterr()
    listed, left = captured.out.split("would upload ", 1)[1].split("not uploaded: ")
    assert sorted(line.split()[0] for line in listed.splitlines()[1:]) == sorted(written)
    assert MARKER not in captured.out
    assert left.startswith(f"4 other files of {folder}:")
    assert "  hf_token.txt  1 bytes  (looks like a secret)" in left and "  notes.md  1 bytes\n" in left
    assert f"warning: 4 files in {folder} are not uploaded: `pixret build` did not write them" in captured.err
    for name, kind in (("hf_token.txt", "its name says token"), (".env", "an environment file"),
                       ("keys/server.pem", "a key or certificate")):
        assert f"warning: {folder / name} LOOKS LIKE A SECRET ({kind}): it is NOT uploaded" in captured.err
    assert "notes.md LOOKS" not in captured.err

    (folder / MARKER).unlink()
    assert main(["push", "dataset", str(folder), "--repo-id", "x/y-demo", "--dry-run"]) == 1
    assert f"{folder / MARKER}: missing (the list of the files `pixret build` wrote)" in _error(capsys)


def test_push_metric_uploads_only_the_metric_files(tmp_path, built_wheel, capsys):
    folder = tmp_path / "pixret_map"
    shutil.copytree(METRIC_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "id_rsa").write_text("x")
    (folder / "scratch.ipynb").write_text("{}")
    (folder / "paper").mkdir()
    (folder / "paper" / "draft.txt").write_text("x")
    assert main(["push", "metric", str(folder), "--repo-id", "x/pixret_map", "--dry-run", "--wheel",
                 str(built_wheel)]) == 0
    captured = capsys.readouterr()
    listed = [line.split()[0] for line in captured.out.split("would upload ", 1)[1].split("not uploaded")[0]
              .splitlines()[1:]]
    expected = sorted([p.relative_to(folder).as_posix() for pattern in ("*.py", "README.md", "requirements.txt")
                       for p in folder.glob(pattern)] + [built_wheel.name])
    assert sorted(listed) == expected and "pixret_map.py" in listed
    assert "not uploaded: 3 other files" in captured.out
    assert f"warning: {folder / 'id_rsa'} LOOKS LIKE A SECRET (an SSH key)" in captured.err


# ---------------------------------------------------------------- a corrupt build report is said to be one
def test_corrupt_build_report_is_not_called_missing(tiny_dataset, files, tmp_path, capsys):
    folder = tmp_path / "ds"
    shutil.copytree(tiny_dataset["out"], folder)
    (folder / "build_report.json").write_text('{"benchmark": null,\n "built_as": proxford}')
    position = "Expecting value at line 2 column 14"
    assert main(["push", "dataset", str(folder), "--repo-id", "x/y-demo", "--dry-run"]) == 1
    assert f"{folder / 'build_report.json'}: not valid JSON ({position})" in _error(capsys)
    with pytest.raises(DatasetError, match=rf"build_report.json: not valid JSON \({position}\)"):
        open_dataset(folder).report
    assert main(["evaluate", "--dataset", str(folder), "--predictions", f"{files['dir']}/preds.json",
                 "--compare-paper"]) == 1  # custom data: the report says which benchmark's tables apply
    assert f"not valid JSON ({position})" in _error(capsys)
    (folder / "build_report.json").unlink()
    assert open_dataset(folder).report is None
    assert main(["push", "dataset", str(folder), "--repo-id", "x/y-demo", "--dry-run"]) == 1
    assert _error(capsys).endswith("links to files the repo would not have: ['build_report.json']")


# ---------------------------------------------------------------- what appears meanwhile; outputs apart
def test_a_file_saved_into_the_output_meanwhile_is_kept(tmp_path):
    """The output is checked again when it is swapped in: what appeared there meanwhile is never deleted."""
    from pixret import outputs

    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(outputs.OutputExists, match="changed while the command ran, so nothing was replaced"):
        with outputs.staged_folder(target, command="show") as tmp:
            (tmp / "index.html").write_text("new")
            (target / "notes.txt").write_text("mine")  # the user saves a file there during the run
    assert (target / "notes.txt").read_text() == "mine" and not (target / "index.html").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staged folder left


def _entries(split, dq=0, di=0):
    return [{"query_id": r["query_id"] + dq, "index_id": r["index_id"] + di, "segmentation": r["mask"]}
            for r in split if r["positive"]]


def test_eval_results_are_written_last_and_outputs_apart(tiny_dataset, medium, tmp_path, capsys):
    (tmp_path / "p.json").write_text(json.dumps(_entries(medium)))
    base = ["evaluate", "--dataset", str(tiny_dataset["out"]), "--predictions", str(tmp_path / "p.json")]
    assert main(base + ["--seed", "-5"]) == 1
    assert "--seed must be 0 or more, got -5" in capsys.readouterr().err
    assert main(base + ["--plots", str(tmp_path / "same"), "--eval-results", str(tmp_path / "same")]) == 1
    assert "--plots" in (err := capsys.readouterr().err) and "is or holds another output" in err
    assert not (tmp_path / "same").exists()
