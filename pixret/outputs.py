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


@contextlib.contextmanager
def staged_folder(output, overwrite: bool = False, flag: str = "--overwrite"):
    """Yield a temporary folder beside ``output``; on success it becomes ``output``
    (the old one is removed only once the new one is in place), on any failure it is removed."""
    output = Path(output)
    if output.exists() and not overwrite:
        raise OutputExists(f"{output} exists; pass {flag} to replace it")
    if output.exists() and not output.is_dir():
        raise OutputExists(f"{output} exists and is not a folder")
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
