"""The library names Python parameters in its messages; the command says them as its own flags (``as_flags``, over
each subcommand's real argparse table)."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from pixret import build, coco, comparison, demo, gallery, publish, scorecard
from pixret.cli import as_flags, command_flags, parser

PACKAGE = Path(__file__).resolve().parents[1] / "pixret"
CALLS = {  # command: its module under pixret/cli, and the library functions it hands its flags to
    "evaluate": ("evaluate", [scorecard.scorecard]),
    "compare": ("compare", [comparison.compare_files]),
    "show": ("show", [gallery.show]),
    "demo": ("demo", [demo.run_demo]),
    "build": ("build", [build.build]),
    "export-coco": ("export_coco", [coco.export]),
    "push": ("push", [publish.plan_dataset, publish.plan_metric, publish.plan_results, publish.push]),
}
# a parameter as a message names it: name=..., name=True / False, name='word', name=1001001, or name= then a value
NAMED = re.compile(r"(?<![\w.-])([a-z][a-z0-9_]*)=(\.\.\.|True\b|False\b|'[\w.-]+'|\d+|$)")


def _subcommands() -> dict:
    """{command: its argparse table}, as ``pixret`` builds them."""
    actions = [a for a in parser()._actions if a.dest == "command"]
    return dict(actions[0].choices)


def _named_in_messages() -> set[tuple[str, str]]:
    """(parameter, the value written after it) of every ``name=`` in the string constants of the library (pixret/
    outside the command line), docstrings left out: what a message may say."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        if "cli" in path.relative_to(PACKAGE).parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and ast.get_docstring(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                found.update((m[1], m[2] or "1") for m in NAMED.finditer(node.value))
    return found


def _passed(command: str) -> set[str]:
    """The library parameters the command's module fills from its flags (its calls of ``CALLS``' functions, bound
    to their signatures)."""
    module, functions = CALLS[command]
    tree = ast.parse((PACKAGE / "cli" / f"{module}.py").read_text(encoding="utf-8"))
    by_name = {function.__name__: inspect.signature(function) for function in functions}
    passed = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in by_name:
            names = list(by_name[node.func.id].parameters)
            passed.update(names[:len(node.args)])
            passed.update(k.arg for k in node.keywords if k.arg is not None)
    assert passed, f"pixret/cli/{module}.py calls none of {sorted(by_name)}"
    return passed


@pytest.mark.parametrize("command", sorted(CALLS))
def test_every_parameter_a_message_names_is_one_of_the_commands_flags(command):
    """Each parameter the command fills from a flag, as the library's messages write it, comes out as one of the
    command's own flags (an alias where the two names differ: official=False is --unofficial)."""
    sub = _subcommands()[command]
    options = {option for action in sub._actions for option in action.option_strings}
    passed = _passed(command)
    checked = [(param, value) for param, value in sorted(_named_in_messages()) if param in passed]
    assert checked or command == "demo"  # (its messages name none of its flags' parameters)
    for param, value in checked:
        said = as_flags(f"pass {param}={value} here", sub)
        flag = said.split()[1]
        assert flag in options and "=" not in said, (command, param, value, said)


@pytest.mark.parametrize("message, said", [
    ("declare them: distractors=1001001", "declare them: --distractors 1001001"),
    ("pass ranks_layout='queries-first' (a row per query) or ranks_layout='revisitop' (a column per query)",
     "pass --ranks-layout queries-first (a row per query) or --ranks-layout revisitop (a column per query)"),
    ("subtract 1, or pass trust_ids=True if these ids are right",
     "subtract 1, or pass --trust-ids if these ids are right"),
    ("official=False changes pixel mAP's denominator", "--unofficial changes pixel mAP's denominator"),
    ("distractors describe the ranks: pass ranks=... too", "distractors describe the ranks: pass --ranks too"),
    ("compare_paper=True prints tables: use fmt='text' or fmt='markdown' with it",
     "--compare-paper prints tables: use --format text or --format markdown with it"),
    ("per_query=out/pq.csv exists; pass overwrite=True to replace it",
     "--per-query out/pq.csv exists; pass --overwrite to replace it"),
    ("source_url='logs/run 1' is not a link", "--source-url 'logs/run 1' is not a link"),  # not one word: quoted
    ("the ranks_layout of the file; trust_ids is a flag; queries_first=1", "the ranks_layout of the file; trust_ids is "
     "a flag; queries_first=1"),  # no parameter given a value, no parameter of the command: as they are
])
def test_evaluate_says_library_parameters_as_its_flags(message, said):
    assert as_flags(message, _subcommands()["evaluate"]) == said


def test_a_flag_of_another_command_is_not_taken():
    """--unofficial is evaluate's and compare's; show has none: official=False stays as it is there, and without a
    command's table nothing changes."""
    assert as_flags("official=False", _subcommands()["show"]) == "official=False"
    assert as_flags("distractors=5, trust_ids=True", None) == "distractors=5, trust_ids=True"


def test_command_flags_are_the_tables_own():
    """A hidden flag (build's older --images-dir) is none of them; --help and --debug are no parameters."""
    flags = command_flags(_subcommands()["build"])
    assert flags["images"] == ("--images", False) and flags["overwrite"] == ("--overwrite", True)
    assert not {"help", "debug"} & set(flags) and all(flag != "--images-dir" for flag, _ in flags.values())
