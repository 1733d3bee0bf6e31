"""Writing outputs whole or not at all, and never over what the user did not ask a command to replace.

A folder is built under a temporary name beside its target and swapped in at the end; it then holds a
marker, ``.pixret-output.json``, naming the command and every file it wrote. ``--overwrite`` replaces only
a folder with the same command's marker and no file the command did not write (an empty folder may always
be filled); anything else is the user's and is refused. A file is written beside its target and renamed
over it, and only ever over a regular file. An error, Ctrl-C or SIGTERM leaves nothing: no staged output,
no parent folder the command created.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import tempfile
import threading
from pathlib import Path

from pixret.metric.files import strictjson
from pixret.metric.core.errors import InputError

MARKER = ".pixret-output.json"
_SHOWN = 3  # names quoted in a refusal


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


def read_json(path, error=InputError):
    """The JSON document in ``path``, None when there is no such file; ``error`` says why it cannot be read (the
    parser's position when it is not JSON)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except UnicodeDecodeError as err:
        raise error(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except OSError as err:
        raise error(f"{path}: cannot be read ({err.strerror})") from None
    try:
        return strictjson.loads(text)
    except json.JSONDecodeError as err:
        raise error(f"{path}: not valid JSON ({err.msg} at line {err.lineno} column {err.colno})") from None
    except (ValueError, RecursionError) as err:  # a key given twice; nesting too deep
        raise error(f"{path}: not valid JSON for pixret ({err or 'nested too deeply'})") from None


def check_apart(output, inputs, flag: str = "--output", what: str = "the input") -> Path:
    """``output`` resolved, after checking it is not the current folder (or one holding it) and that it
    neither is, holds, nor sits inside any of ``inputs`` (files or folders the command reads, or, with
    ``what="another output"``, the command's other outputs)."""
    try:
        resolved = Path(output).expanduser().resolve()
    except (OSError, RuntimeError) as err:
        raise OutputOverlaps(f"{flag} {output}: not a usable path ({err})") from None
    if resolved == Path.cwd().resolve() or resolved in Path.cwd().resolve().parents:
        raise OutputOverlaps(f"{flag} {output} is the current folder (or holds it): choose a folder of its own")
    for given in inputs:
        if given is None:
            continue
        source = Path(given).expanduser().resolve()
        if resolved == source or resolved in source.parents:
            raise OutputOverlaps(f"{flag} {output} is or holds {what} {given}: replacing it would destroy it")
        if source in resolved.parents:
            raise OutputOverlaps(f"{flag} {output} is inside {what} {given}: write it elsewhere")
    return resolved


def written_files(folder) -> tuple[str, list[str]] | None:
    """(command, files it wrote) from the marker of a folder a pixret command wrote; None without a marker."""
    path = Path(folder) / MARKER
    marker = read_json(path, OutputError)
    if marker is None:
        return None
    if (not isinstance(marker, dict) or not isinstance(marker.get("command"), str)
            or not isinstance(marker.get("files"), list) or not all(isinstance(f, str) for f in marker["files"])):
        raise OutputError(f"{path}: not a pixret output marker (expected {{command, files}})")
    return marker["command"], marker["files"]


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


def check_folder(output, command: str, overwrite: bool = False, flag: str = "--output", inputs=()) -> Path:
    """``output`` resolved (a link: its target), after checking that ``pixret command`` may write it there:
    it is new or empty, or ``overwrite`` is given and it is that command's earlier output, untouched but for
    the files the command wrote. Raises OutputError saying why not and what to do."""
    given, output = output, check_apart(output, inputs, flag)
    if not output.exists():
        return output
    if not output.is_dir():
        raise OutputExists(f"{flag} {given} exists and is not a folder: name a new folder")
    entries = _entries(output)
    if not entries:
        return output  # an empty folder is filled
    marker = written_files(output)
    what = f"`pixret {command}`"
    if marker is None:
        raise OutputExists(f"{flag} {given} exists and is not an earlier {what} output (it has no {MARKER}): "
                           "name a new or empty folder, or move it away yourself")
    if marker[0] != command:
        raise OutputExists(f"{flag} {given} is an earlier `pixret {marker[0]}` output, not a {what} one: name a "
                           "new or empty folder")
    written = set(marker[1]) | {MARKER}
    written |= {parent.as_posix() for name in marker[1] for parent in Path(name).parents if parent != Path(".")}
    foreign = [name + "/" * (output / name).is_dir() for name in entries if name not in written]
    if foreign:
        raise OutputExists(f"{flag} {given} holds {_count(foreign, 'file')} {what} did not write "
                           f"({_listing(foreign)}): move them out or name another folder; nothing was replaced")
    if not overwrite:
        raise OutputExists(f"{given} exists; pass --overwrite to replace it")
    return output


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; the ones created, deepest first (to remove on failure)."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def _remove_made(made: list[Path]) -> None:
    for folder in made:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only while empty: never what someone else put there since


def _write_marker(folder: Path, command: str) -> None:
    from pixret import __version__

    files = [name for name in _entries(folder) if not (folder / name).is_dir() or (folder / name).is_symlink()]
    marker = {"command": command, "pixret_version": __version__, "files": files}
    (folder / MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")


@contextlib.contextmanager
def signals_held():
    """Ctrl-C, SIGTERM and SIGHUP wait while an output is swapped in and the old one removed (never the old one
    left aside, hidden)."""
    held = {getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)}
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def staged_folder(output, overwrite: bool = False, *, command: str, inputs=(), flag: str = "--output"):
    """Yield a temporary folder beside ``output``; on success it gets the marker of ``pixret command`` and
    becomes ``output`` (an earlier one is removed only once the new one is in place; a link named as
    ``output`` keeps pointing to it), on any failure it is removed with the parent folders made for it.
    ``check_folder`` decides whether ``output`` may be written; ``inputs``: what the command reads."""
    output = check_folder(output, command, overwrite, flag, inputs)
    made = _make_parents(output.parent)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    except BaseException:
        _remove_made(made)
        raise
    try:
        yield tmp
        _write_marker(tmp, command)
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it 0700; a written folder gets normal permissions
        with signals_held():
            if output.exists():  # what is there now may be replaced only as it could at the start
                try:
                    check_folder(output, command, True, flag)
                except OutputError as err:
                    raise OutputExists(f"{flag} {output} changed while the command ran, so nothing was replaced: "
                                       f"{err}") from None
            old = output.with_name(f"{tmp.name}.old") if output.exists() else None
            if old:
                output.rename(old)
            try:
                tmp.rename(output)
            except BaseException:
                if old:
                    old.rename(output)
                raise
            if old:
                shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_made(made)
        raise


def _kind(mode: int) -> str | None:
    """What a file system entry is, when it is not a regular file."""
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def check_file(output, overwrite: bool = False, flag: str = "--output", inputs=()) -> Path:
    """``output`` resolved (a link: its target), after checking a file may be written there: its folder
    exists, and it is new, or a regular file and ``overwrite`` is given. Never a device, pipe, socket or folder."""
    given, output = output, check_apart(output, inputs, flag)
    if not output.parent.is_dir():
        raise OutputError(f"{flag} {given}: folder {Path(given).parent} not found")
    try:
        mode = output.stat().st_mode
    except FileNotFoundError:
        return output
    kind = _kind(mode)
    if kind:
        raise OutputExists(f"{flag} {given} is {kind}: pixret replaces only regular files; name a file to write")
    if not overwrite:
        raise OutputExists(f"{flag} {given} exists; pass --overwrite to replace it")
    return output


def write_file(output, text: str, overwrite: bool = False, flag: str = "--output", inputs=()) -> Path:
    """Write a text file the user named, whole or not at all, under the rule of ``check_file``."""
    path = check_file(output, overwrite, flag, inputs)
    write_text(path, text)
    return Path(output)


def write_text(path, text: str) -> Path:
    """Write a text file atomically (a temporary file beside it, renamed over it: only over a regular file)."""
    path = Path(path)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600
        with contextlib.suppress(FileNotFoundError):
            kind = _kind(path.stat().st_mode)
            if kind:  # a folder, device or pipe has taken its place meanwhile
                raise OutputExists(f"{path} is {kind}: pixret replaces only regular files")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
