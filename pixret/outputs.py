"""Writing outputs whole or not at all, and never over what the user did not ask a command to replace.

A folder is built under a temporary name beside its target and swapped in at the end; it then holds a
marker, ``.pixret-output.json``, naming the command and every file it wrote. ``overwrite=True`` replaces only
a folder with the same command's marker and no file the command did not write (an empty folder may always
be filled); anything else is the user's and is refused. A file is written beside its target and renamed
over it, and only ever over a regular file. An error, Ctrl-C or SIGTERM leaves nothing: no staged output,
no parent folder the command created. The steps a signal must not split (making a folder and noting it, the swap,
removing a partial output) hold signals to their end (``signals_held``); a stop that comes once an output is in
place leaves it whole (``completed``). ``testhook.reached`` marks the points tests stop a command at.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import os
import shutil
import signal
import stat
import sys
import tempfile
import threading
import warnings
from pathlib import Path

from pixret import testhook
from pixret.version import __version__
from pixret.metric.core.errors import InputError
from pixret.metric.files import strictjson

MARKER = ".pixret-output.json"
_SHOWN = 3  # names quoted in a refusal
MARKER_LIMIT = 1 << 20  # bytes: a marker lists a command's files (a build's: 20; 1 MiB is some 20,000 names)
_MARKER_KEYS = 16  # keys in a marker's object (3 today: command, pixret_version, files), with room to grow
_completed: list[Path] | None = None  # outputs swapped in, while a command notes them (noting_completed)


class OutputError(InputError):
    """An output the command may not write where it was asked to."""


class OutputExists(OutputError):
    """The output is there and may not (or was not asked to) be replaced."""


class OutputOverlaps(OutputError):
    """The output would replace or sit inside something the command reads."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_json(path, error=InputError, limit: int | None = None, pairs_hook=None):
    """The JSON document in ``path``, None when there is no such file; ``error`` says why it cannot be read (the
    parser's position when it is not JSON). ``limit``: bytes read at most (a file that grew past it is refused);
    ``pairs_hook``: builds each object instead of strictjson's (which it must check as strictly)."""
    try:
        with open(path, "rb") as file:
            data = file.read() if limit is None else file.read(limit + 1)
        if limit is not None and len(data) > limit:
            raise error(f"{path}: more than {limit:,} bytes, more than pixret reads of it")
        text = data.decode("utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except UnicodeDecodeError as err:
        raise error(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except OSError as err:
        raise error(f"{path}: cannot be read ({err.strerror})") from None
    try:
        return strictjson.loads(text) if pairs_hook is None else json.loads(text, object_pairs_hook=pairs_hook)
    except json.JSONDecodeError as err:
        raise error(f"{path}: not valid JSON ({err.msg} at line {err.lineno} column {err.colno})") from None
    except (ValueError, RecursionError) as err:  # a key given twice; nesting too deep
        raise error(f"{path}: not valid JSON for pixret ({err or 'nested too deeply'})") from None


def _named(name: str, path) -> str:
    """An output as messages name it: ``name=path`` for a parameter (``output=build/proxford``), else ``name path``."""
    return f"{name}={path}" if name.isidentifier() else f"{name} {path}"


def check_apart(output, inputs, name: str = "output", what: str = "the input") -> Path:
    """``output`` resolved, after checking it is not the current folder (or one holding it) and that it
    neither is, holds, nor sits inside any of ``inputs`` (files or folders the command reads, or, with
    ``what="another output"``, the command's other outputs). ``name``: the caller's parameter that gave ``output``
    (messages say ``output=build/proxford``; a name that is no identifier, as it is), here and below."""
    try:
        resolved = Path(output).expanduser().resolve()
    except (OSError, RuntimeError) as err:
        raise OutputOverlaps(f"{_named(name, output)}: not a usable path ({err})") from None
    if resolved == Path.cwd().resolve() or resolved in Path.cwd().resolve().parents:
        raise OutputOverlaps(f"{_named(name, output)} is the current folder (or holds it): choose a folder of its own")
    for given in inputs:
        if given is None:
            continue
        source = Path(given).expanduser().resolve()
        if resolved == source or resolved in source.parents:
            raise OutputOverlaps(f"{_named(name, output)} is or holds {what} {given}: replacing it would destroy it")
        if source in resolved.parents:
            raise OutputOverlaps(f"{_named(name, output)} is inside {what} {given}: write it elsewhere")
    return resolved


def written_files(folder) -> tuple[str, list[str]] | None:
    """(command, files it wrote) from the marker of a folder a pixret command wrote; None without a marker. A
    marker that is not one pixret could have written is refused at its first problem, before it costs anything:
    past MARKER_LIMIT bytes unread, an object of more keys than a marker's unparsed further."""
    path = Path(folder) / MARKER
    try:
        size = path.stat().st_size
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as err:
        raise OutputError(f"{path}: cannot be read ({err.strerror})") from None
    if size > MARKER_LIMIT:
        raise OutputError(f"{path}: {size:,} bytes, more than a pixret output marker holds ({MARKER_LIMIT:,} at "
                          "most): not one pixret wrote")
    marker = read_json(path, OutputError, limit=MARKER_LIMIT, pairs_hook=_marker_object)
    if marker is None:
        return None
    if not isinstance(marker, dict) or not isinstance(marker.get("command"), str) \
            or not isinstance(marker.get("files"), list):
        raise OutputError(f"{path}: not a pixret output marker (expected {{command, files}})")
    files = marker["files"]
    bad = next((k for k, name in enumerate(files) if not isinstance(name, str)), None)
    if bad is not None:
        raise OutputError(f"{path}: files[{bad}] is {type(files[bad]).__name__}, not a file name: not a pixret "
                          "output marker")
    return marker["command"], files


def _marker_object(pairs: list) -> dict:
    """A marker's JSON object: {command, pixret_version, files}. One of many keys (a crafted one could have
    millions) is refused before any check that costs more than reading them; one with a key twice as strictjson
    refuses it."""
    if len(pairs) > _MARKER_KEYS:
        raise ValueError(f"an object of {len(pairs):,} keys, where a marker's has 3")
    keys = [key for key, _ in pairs]
    twice = next((key for key in keys if keys.count(key) > 1), None)  # a few keys: count is cheap here
    if twice is not None:
        raise ValueError(f"an object has the key {twice!r} twice")
    return dict(pairs)


def _entries(folder: Path) -> list[str]:
    """Every file, link and folder below ``folder`` (relative, '/'-separated; links are not followed)."""
    out = []
    for root, dirs, files in os.walk(folder):
        relative = Path(root).relative_to(folder)
        out += [(relative / name).as_posix() for name in dirs + files]
    return sorted(out)


def _count(items, noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _listing(names: list[str]) -> str:
    return ", ".join(names[:_SHOWN]) + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def _foreign(entries: list[str], files: list[str]) -> list[str]:
    """The entries of a folder (``_entries``) that are neither the marker, nor a file of the marker's list, nor a
    folder holding one (found by a search in the sorted list: nothing per listed file but the sort)."""
    listed = set(files)
    ordered = sorted(listed)

    def holds_listed(name: str) -> bool:
        prefix = name + "/"
        at = bisect.bisect_left(ordered, prefix)
        return at < len(ordered) and ordered[at].startswith(prefix)

    return [name for name in entries if name != MARKER and name not in listed and not holds_listed(name)]


def check_folder(output, command: str, overwrite: bool = False, name: str = "output", inputs=()) -> Path:
    """``output`` resolved (a link: its target), after checking that ``pixret command`` may write it there:
    it is new or empty, or ``overwrite`` is given and it is that command's earlier output, untouched but for
    the files the command wrote. Raises OutputError saying why not and what to do."""
    given, output = output, check_apart(output, inputs, name)
    if not output.exists():
        return output
    if not output.is_dir():
        raise OutputExists(f"{_named(name, given)} exists and is not a folder: name a new folder")
    entries = _entries(output)
    if not entries:
        return output  # an empty folder is filled
    marker = written_files(output)
    what = f"`pixret {command}`"
    if marker is None:
        raise OutputExists(f"{_named(name, given)} exists and is not an earlier {what} output (it has no {MARKER}): "
                           "name a new or empty folder, or move it away yourself")
    if marker[0] != command:
        raise OutputExists(f"{_named(name, given)} is an earlier `pixret {marker[0]}` output, not a {what} one: name a "
                           "new or empty folder")
    foreign = _foreign(entries, marker[1])
    foreign = [name + "/" * (output / name).is_dir() for name in foreign]
    if foreign:
        raise OutputExists(f"{_named(name, given)} holds {_count(foreign, 'file')} {what} did not write "
                           f"({_listing(foreign)}): move them out or name another folder; nothing was replaced")
    if not overwrite:
        raise OutputExists(f"{given} exists; pass overwrite=True to replace it")
    return output


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; the ones created, deepest first (to remove on failure). Call it
    with signals held: a folder made must be noted."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except BaseException:
        _remove_made(missing)
        raise
    return missing


def _remove_made(made: list[Path]) -> None:
    for folder in made:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only while empty: never what someone else put there since


def _remove_tree(folder: Path) -> None:
    """Remove a folder of ours whole; warn (one line, naming it) if something in it could not be removed."""
    failed = []

    def note(function, path, error):  # onexc gets the exception, onerror (before 3.12) sys.exc_info()
        error = error if isinstance(error, BaseException) else error[1]
        if not isinstance(error, FileNotFoundError):  # gone already: what was wanted
            failed.append(error)

    if sys.version_info >= (3, 12):
        shutil.rmtree(folder, onexc=note)
    else:
        shutil.rmtree(folder, onerror=note)
    if failed:
        error = failed[0]
        warnings.warn(f"{folder}: could not be removed ({getattr(error, 'strerror', None) or error}: "
                      f"{getattr(error, 'filename', None) or folder}); remove it yourself")


def _write_marker(folder: Path, command: str) -> None:
    files = [name for name in _entries(folder) if not (folder / name).is_dir() or (folder / name).is_symlink()]
    marker = {"command": command, "pixret_version": __version__, "files": files}
    (folder / MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")


HELD_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextlib.contextmanager
def signals_held():
    """Ctrl-C, SIGTERM and SIGHUP wait to the end of the block (an output swapped in and the old one removed, never
    the old one left aside, hidden; a folder made and noted; a partial output removed whole): each one that came
    is raised again then, the first first. Only the main thread handles signals; elsewhere nothing is held.

    The handlers are replaced rather than the signals blocked: a signal sent to the process is taken by any thread
    that does not block it (a pool's, Arrow's, tqdm's), and Python then runs the handler in the main thread anyway.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came = []
    previous = {}
    try:
        for number in HELD_SIGNALS:
            handler = signal.getsignal(number)
            if handler not in (signal.SIG_IGN, None):  # an ignored one stays ignored; None: not set from Python
                previous[number] = signal.signal(number, lambda signum, frame: came.append(signum))
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in dict.fromkeys(came):
            signal.raise_signal(number)  # its own handler now: a raising one raises here, the rest do not run


@contextlib.contextmanager
def staged_folder(output, overwrite: bool = False, *, command: str, inputs=(), name: str = "output"):
    """Yield a temporary folder beside ``output``; on success it gets the marker of ``pixret command`` and
    becomes ``output`` (an earlier one is removed only once the new one is in place; a link named as
    ``output`` keeps pointing to it), on any failure it is removed with the parent folders made for it.
    ``check_folder`` decides whether ``output`` may be written; ``inputs``: what the command reads."""
    output = check_folder(output, command, overwrite, name, inputs)
    made, tmp = [], None
    try:
        with signals_held():  # a stop between making a folder and noting it would leave it behind
            made = _make_parents(output.parent)
            tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
            testhook.reached("outputs.making")
        testhook.reached("outputs.staged")
        yield tmp
        testhook.reached("outputs.filled")
        _write_marker(tmp, command)
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it 0700; a written folder gets normal permissions
        testhook.reached("outputs.marked")
        with signals_held():
            _swap(tmp, output, command, name)
            if _completed is not None:
                _completed.append(output)
            testhook.reached("outputs.swapped")
    except BaseException:
        _discard(tmp, made)
        raise


def _swap(tmp: Path, output: Path, command: str, name: str) -> None:
    """Put the staged folder in place of ``output``; an earlier output is removed once the new one is there."""
    if output.exists():  # what is there now may be replaced only as it could at the start
        try:
            check_folder(output, command, True, name)
        except OutputError as err:
            raise OutputExists(f"{_named(name, output)} changed while the command ran, so nothing was replaced: "
                               f"{err}") from None
    old = output.with_name(f"{tmp.name}.old") if output.exists() else None
    if old:
        output.rename(old)
        testhook.reached("outputs.swapping")
    try:
        tmp.rename(output)
    except BaseException:
        if old:
            old.rename(output)
        raise
    if old:
        _remove_tree(old)


def _discard(tmp: Path | None, made: list[Path]) -> None:
    """Remove a staged folder (if it was not swapped in) and the parents made for it; a second signal waits."""
    try:
        with signals_held():
            testhook.reached("outputs.discarding")
            _remove_staged(tmp, made)
    except BaseException:  # a signal that came as the hold began: removed all the same (again is a no-op)
        _remove_staged(tmp, made)
        raise


def _remove_staged(tmp: Path | None, made: list[Path]) -> None:
    if tmp is not None:
        if tmp.exists():
            _remove_tree(tmp)
        if _completed:  # an output inside it is gone with it
            _completed[:] = [done for done in _completed if tmp not in done.parents]
    _remove_made(made)


@contextlib.contextmanager
def noting_completed():
    """Within it, the outputs put in place whole are noted: ``completed()`` (what a command stopped after writing
    them says it leaves). Outside, nothing is kept."""
    global _completed
    previous, _completed = _completed, []
    try:
        yield
    finally:
        _completed = previous


def completed() -> list[Path]:
    """The outputs put in place whole so far within ``noting_completed()``."""
    return list(_completed or [])


def _kind(mode: int) -> str | None:
    """What a file system entry is, when it is not a regular file."""
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def check_file(output, overwrite: bool = False, name: str = "output", inputs=()) -> Path:
    """``output`` resolved (a link: its target), after checking a file may be written there: its folder
    exists, and it is new, or a regular file and ``overwrite`` is given. Never a device, pipe, socket or folder."""
    given, output = output, check_apart(output, inputs, name)
    if not output.parent.is_dir():
        raise OutputError(f"{_named(name, given)}: folder {Path(given).parent} not found")
    try:
        mode = output.stat().st_mode
    except FileNotFoundError:
        return output
    kind = _kind(mode)
    if kind:
        raise OutputExists(f"{_named(name, given)} is {kind}: pixret replaces only regular files; name a file to write")
    if not overwrite:
        raise OutputExists(f"{_named(name, given)} exists; pass overwrite=True to replace it")
    return output


def write_file(output, text: str, overwrite: bool = False, name: str = "output", inputs=()) -> Path:
    """Write a text file the user named, whole or not at all, under the rule of ``check_file``."""
    path = check_file(output, overwrite, name, inputs)
    write_text(path, text)
    return Path(output)


def write_text(path, text: str) -> Path:
    """Write a text file atomically (a temporary file beside it, renamed over it: only over a regular file)."""
    path = Path(path)
    tmp = None
    try:
        with signals_held():  # a stop between making the file and noting it would leave it behind
            handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        testhook.reached("outputs.writing")
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600
        with contextlib.suppress(FileNotFoundError):
            kind = _kind(path.stat().st_mode)
            if kind:  # a folder, device or pipe has taken its place meanwhile
                raise OutputExists(f"{path} is {kind}: pixret replaces only regular files")
        os.replace(tmp, path)
    except BaseException:
        if tmp is not None:
            with signals_held():
                Path(tmp).unlink(missing_ok=True)
        raise
    return path
