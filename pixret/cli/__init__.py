"""The ``pixret`` command: build, evaluate, compare, show, export-coco, push, demo.

    pixret build --benchmark proxford --labels LABELS --images oxbuild_images.tgz --gnd gnd_roxford5k.mat --output OUT
    pixret evaluate --dataset OUT --predictions preds.json --ranks ranks.npy --compare-paper
    pixret demo

Every subcommand lives in its own module here (``add_arguments`` + ``run``). A user's
mistake ends in one line ``error: ...`` on stderr and exit code 1 (``--debug`` shows
the traceback), Ctrl-C in ``interrupted: ...`` and exit code 130, SIGTERM or SIGHUP like
Ctrl-C (partial outputs removed) in ``terminated: ...`` and exit code 128 + the signal's
number; warnings about legal but suspicious input are ``warning: ...`` lines.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import os
import re
import signal
import sys
import threading
import warnings

from pixret import outputs
from pixret.metric.core.errors import InputError

COMMANDS = {  # name: (module, one-line help)
    "build": ("build", "upstream release (folders or the original archives) -> hub-ready dataset folder"),
    "evaluate": ("evaluate", "score a method's result files: paper-style rows, tables, plots"),
    "compare": ("compare", "two methods on the same queries: figures with bootstrap intervals, differences, p-values"),
    "show": ("show", "HTML gallery of queries and their top-k images with outlines"),
    "export-coco": ("export_coco", "COCO instance-segmentation JSON per protocol"),
    "push": ("push", "validate and publish a dataset folder, the metric Space, or a model's eval results on the Hub"),
    "demo": ("demo", "the whole project on a generated world, no download"),
}


class UserError(Exception):
    """A mistake in what the user asked for (a flag, a path); its message is the whole story."""


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP: the command stops as on Ctrl-C (what it was writing is removed)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


STOP_SIGNALS = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]


_came: list[int] = []  # the stop signals that came while the command ran, the first first


def _terminate(signum, frame):
    _came.append(signum)
    for number in STOP_SIGNALS:  # a second one must not cut the clean-up short
        signal.signal(number, signal.SIG_IGN)
    raise Terminated(signum)


def _interrupt(signum, frame):
    _came.append(signum)
    raise KeyboardInterrupt


@contextlib.contextmanager
def _stop_signals():
    """SIGTERM and SIGHUP raise Terminated while a command runs, where they would end the process (not under
    `nohup`, which ignores SIGHUP; signal handlers live in the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, _terminate) for number in STOP_SIGNALS
                if signal.getsignal(number) == signal.SIG_DFL}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # Ctrl-C as before, noted
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, _interrupt)
    _came.clear()
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not usage + message
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def parser() -> argparse.ArgumentParser:
    top = _Parser(prog="pixret", description="PROxford / PRParis pixel retrieval: build the datasets, evaluate "
                                             "methods, look at the results, publish. See `pixret COMMAND --help`.")
    top.add_argument("--version", action="version", version=f"pixret {_version()}")
    commands = top.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser, required=True)
    for name, (module, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--debug", action="store_true", help="show the traceback of an error")
        sub.set_defaults(module=module, parser=sub)
        importlib.import_module(f"pixret.cli.{module}").add_arguments(sub)
    return top


def _version() -> str:
    from pixret.version import __version__

    return __version__


_running = {"parser": None, "warned": []}  # the subcommand running (its warnings are printed in its terms), and the
# warnings about the user's input it printed


def _show_warning(message, category, filename, lineno, file=None, line=None):
    text = as_flags(str(message), _running["parser"])
    if issubclass(category, UserWarning):
        _running["warned"].append(text)
    print(f"warning: {text}", file=sys.stderr)


def printed_warnings() -> list[str]:
    """The warnings about the user's input (UserWarning) the running command printed so far, as printed (in its
    flags) without the ``warning:`` prefix."""
    return list(_running["warned"])


def main(argv=None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a usage error (already printed)
        return stop.code if isinstance(stop.code, int) else 0
    module = importlib.import_module(f"pixret.cli.{args.module}")
    return run(module.run, args, getattr(module, "INTERRUPTED", "interrupted: nothing was written"))


STDOUT_CLOSED = ("error: standard output is closed (>&-): what the command prints would be lost; redirect it to a "
                 "file, or to /dev/null to discard it")
FULL = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
        errno.EFBIG: "the file is larger than allowed (file system or ulimit -f)",
        errno.EROFS: "the file system is read-only"}
OUTPUT_NAMES = ("output", "path", "folder", "target", "tmp")  # locals naming what a pixret frame was writing


def run(function, args, interrupted: str) -> int:
    """Call a subcommand with the project's error and warning conventions."""
    if sys.stdout is None:  # started with stdout closed: Python prints nothing, silently
        if sys.stderr is not None:
            print(STDOUT_CLOSED, file=sys.stderr)
        return 1
    # datasets: no log lines and no progress bars of its own (pixret draws its own); read when it is imported
    os.environ.setdefault("DATASETS_VERBOSITY", "critical")  # its log lines repeat what our one line says
    os.environ.setdefault("HF_HUB_VERBOSITY", "critical")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    if "datasets" in sys.modules:  # already imported (a caller's process)
        sys.modules["datasets"].logging.set_verbosity(50)
        sys.modules["datasets"].disable_progress_bars()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import logging as hub_logging  # (the package does not import .utils eagerly)

        hub_logging.set_verbosity(50)
    with warnings.catch_warnings(), outputs.noting_completed():
        if not args.debug:
            warnings.simplefilter("ignore")  # library chatter (deprecations, ...)
            warnings.simplefilter("always", UserWarning)  # what our checks say about the user's input
            warnings.filterwarnings("ignore", module=r"(datasets|evaluate|huggingface_hub|pyarrow|PIL)(\.|$)")
        warnings.showwarning = _show_warning
        _running["parser"] = getattr(args, "parser", None)
        _running["warned"] = []
        try:
            with _stop_signals(), _named_stdout():
                code = function(args) or 0
                sys.stdout.flush()  # what the command printed, out now: a failure is the command's error
                return code
        except Terminated as stop:
            return _run_stopped(stop.signum, interrupted)
        except KeyboardInterrupt:
            return _run_stopped(signal.SIGINT, interrupted)
        except BrokenPipeError:  # the reader of our output went away (`pixret ... | head`): not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except Exception as err:  # noqa: BLE001 - every failure ends in one line
            if args.debug:
                raise
            if _came:  # a stop whose exception a library turned into its own error (raised inside its C code)
                return _run_stopped(_came[0], interrupted)
            print(f"error: {as_flags(_message(err), getattr(args, 'parser', None))}", file=sys.stderr)
            return 1


def _run_stopped(signum: int, interrupted: str) -> int:
    """Say how a command stopped by a signal ended (the outputs it left whole, or none); its exit code."""
    if signum == signal.SIGINT:
        print(_stopped(interrupted), file=sys.stderr)
        return 130
    what = _stopped(interrupted).removeprefix("interrupted: ")
    print(f"terminated: {signal.Signals(signum).name}; {what}", file=sys.stderr)
    return 128 + signum


class _Stdout:
    """sys.stdout whose failures name it (a full disk, ``> /dev/full``: OSError "standard output"); a reader gone
    away stays a BrokenPipeError. Everything else is the stream's own."""

    def __init__(self, stream):
        self._stream = stream

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def _named(self, method, *args):
        try:
            return method(*args)
        except BrokenPipeError:
            raise
        except OSError as err:
            raise OSError(err.errno, err.strerror, "standard output") from None

    def write(self, text):
        return self._named(self._stream.write, text)

    def flush(self):
        return self._named(self._stream.flush)


@contextlib.contextmanager
def _named_stdout():
    stream = sys.stdout
    sys.stdout = _Stdout(stream)
    try:
        yield
    finally:
        if isinstance(sys.stdout, _Stdout):  # (a command that replaced it keeps its own)
            sys.stdout = stream


def _written_path(err: OSError) -> str | None:
    """What a write that failed without naming its file (a full disk fails on write or close, the file long
    opened) was writing: a local of the pixret frames it went through, innermost first, ``output`` (the name the
    user gave) before the others."""
    frames = []
    trace = err.__traceback__
    while trace is not None:
        if __name__.split(".")[0] in trace.tb_frame.f_globals.get("__name__", "").split(".")[:1]:
            frames.append(trace.tb_frame.f_locals)
        trace = trace.tb_next
    for name in OUTPUT_NAMES:
        for local in reversed(frames):
            value = local.get(name)
            if isinstance(value, (str, os.PathLike)) and str(value):
                return os.fspath(value)
    return None


def _stopped(interrupted: str) -> str:
    """What a command stopped by a signal says it leaves: ``interrupted`` (nothing written), unless an output was
    already in place, whole (a stop that came while it was swapped in waited for that)."""
    done = outputs.completed()
    if not done:
        return interrupted
    return f"interrupted: {', '.join(map(str, done))} had been written whole; stopped after that"


ALIASES = {  # a library parameter as messages name it -> the flag's dest that says it, where the two differ
    "official=False": "unofficial=True",  # the flag says the opposite
    "fmt=": "format=",  # (a parameter named format would hide the builtin)
}


def as_flags(text: str, parser=None) -> str:
    """A library message in the command's terms: its Python parameters as the flags of ``parser``, the subcommand's
    own argparse table: ``distractors=1001001`` -> ``--distractors 1001001``, ``ranks_layout='revisitop'`` ->
    ``--ranks-layout revisitop`` (a quoted word, as a choice is, loses its quotes), ``trust_ids=True`` ->
    ``--trust-ids``, ``ranks=...`` (the parameter itself) -> ``--ranks``; ``official=False`` -> ``--unofficial``
    (``ALIASES``). The library never names a flag; this is the one place that knows them. Without a parser the text
    is unchanged."""
    if parser is None:
        return text
    flags = command_flags(parser)
    for param, dest in ALIASES.items():
        if dest.partition("=")[0] in flags:
            text = re.sub(rf"(?<![\w.-]){re.escape(param)}" + (r"\b" if param[-1].isalnum() else ""), dest, text)
    for dest, (flag, switch) in flags.items():
        name = rf"(?<![\w.-]){dest}="
        if switch:
            text = re.sub(rf"{name}True\b", flag, text)
        text = re.sub(rf"{name}\.\.\.", flag, text)
        text = re.sub(rf"{name}'([\w.-]+)'", lambda m: f"{flag} {m[1]}", text)  # a choice, a number: no quotes
        text = re.sub(name, f"{flag} ", text)
    return text


def command_flags(parser) -> dict[str, tuple[str, bool]]:
    """{dest: (its long flag, whether the flag alone says True)} of a subcommand's argparse table: the parameters
    its messages may name (not --help, --debug, nor a flag argparse hides)."""
    out = {}
    for action in parser._actions:  # (argparse has no public list of them)
        flag = next((o for o in action.option_strings if o.startswith("--")), None)
        if flag is None or action.dest in ("help", "debug") or action.help == argparse.SUPPRESS:
            continue
        out.setdefault(action.dest, (flag, isinstance(action, argparse._StoreTrueAction)))
    return out


def _message(err: Exception) -> str:
    if isinstance(err, OSError) and err.errno in FULL:  # the path written, and what happened, in words
        path = err.filename if err.filename is not None else _written_path(err)
        return f"cannot write {path if path is not None else 'an output'}: {FULL[err.errno]} ({err.strerror})"
    text = str(err).strip() or type(err).__name__
    name = type(err).__name__.lower()
    if isinstance(err, (ConnectionError, TimeoutError)) or "connect" in name or "timeout" in name:
        return f"cannot reach the Hub ({text.splitlines()[0]})"
    # the user's input (InputError: files, rows, options), the system's answer (OSError: a path, a permission, a
    # full disk), an optional package missing, the Hub's answer; any other exception, a ValueError too, is ours
    if isinstance(err, (UserError, InputError, OSError, ImportError)) or type(err).__module__.startswith(
            "huggingface_hub"):
        return text
    return (f"unexpected {type(err).__name__}: {text.splitlines()[0]} (this may be a pixret bug: rerun with --debug "
            "for the traceback and report it)")
