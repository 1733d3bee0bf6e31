"""Writing outputs whole or not at all: a folder is built under a temporary name and swapped in
at the end; a file is written beside its target and renamed. An error or Ctrl-C leaves nothing."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path


class OutputExists(FileExistsError):
    """The output is there and replacing it was not asked for."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class OutputOverlaps(ValueError):
    """The output would replace or sit inside something the command reads."""


def check_apart(output, inputs, flag: str = "--output") -> Path:
    """``output`` resolved, after checking it is not the current folder (or one holding it) and that it
    neither is, holds, nor sits inside any of ``inputs`` (files or folders the command reads)."""
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
            raise OutputOverlaps(f"{flag} {output} is or holds the input {given}: replacing it would destroy it")
        if source in resolved.parents:
            raise OutputOverlaps(f"{flag} {output} is inside the input {given}: write it elsewhere")
    return resolved


@contextlib.contextmanager
def staged_folder(output, overwrite: bool = False, flag: str = "--overwrite", inputs=()):
    """Yield a temporary folder beside ``output``; on success it becomes ``output``
    (the old one is removed only once the new one is in place), on any failure it is removed.
    ``inputs``: what the command reads, which the output may not replace or sit in."""
    given, output = output, check_apart(output, inputs)
    if output.exists() and not overwrite:
        raise OutputExists(f"{given} exists; pass {flag} to replace it")
    if output.exists() and not output.is_dir():
        raise OutputExists(f"{given} exists and is not a folder")
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        yield tmp
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it 0700; a built folder gets normal permissions
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
        raise


def write_text(path, text: str) -> Path:
    """Write a text file atomically (a temporary file beside it, then a rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_files(folder, make) -> list[Path]:
    """``make(tmp)`` writes files into a temporary folder beside ``folder``; they are then moved into
    ``folder`` (created if needed), each replaced whole. Returns their final paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".pixret.", dir=folder))
    try:
        made = make(tmp)
        out = []
        for path in made:
            target = folder / Path(path).name
            Path(path).replace(target)
            out.append(target)
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
