"""A test-only hook: a command stops at a named point and waits there until a test has signalled it.

Library code marks the points where a stop matters with ``reached("outputs.staged")``. With
``PIXRET_TEST_HOLD`` unset (always, but in tests), ``reached`` returns at once: one global test, nothing else.
A test sets, for the process it starts:

    PIXRET_TEST_HOLD      where to wait: comma-separated points, each "NAME" (its first time), "NAME#N" (its N-th
                          time) or "#N" (the N-th point reached, whatever its name); or "list": wait nowhere, report
                          every point reached
    PIXRET_TEST_HOLD_FDS  "W,R": two pipe ends the process inherited (``pass_fds``)

At a point to wait at, the hook writes ``held SEQ NAME#N`` (a line) to W and waits for the line ``go SEQ`` (or the
end of R); in "list" mode it writes ``point NAME#N`` and goes on. The test sends its signal while the command waits,
then says go: the signal is handled where the command stands (a handler that raises ends the wait at once; one
that ``outputs.signals_held`` defers is raised at the end of that block). A "go" left unread because a signal ended
its wait is skipped by the next wait (its SEQ is an earlier one's). Points count in the main thread only: a pool
thread's would make their order depend on timing.

The test's end (start a command held at some points, wait for each, signal, let it go) is ``Held`` in
tests/holding.py, with the tests: the package holds only the hook. The points there are, and the tests that use
them: docs/testing.md.
"""

from __future__ import annotations

import os
import threading

HOLD = "PIXRET_TEST_HOLD"
FDS = "PIXRET_TEST_HOLD_FDS"

_points: frozenset | None = None  # None: the hook is off
_listing = False
_write_fd = _read_fd = -1
_counts: dict[str, int] = {}
_total = 0
_seq = 0
_unread = b""


def configure(points: str | None, fds: str | None = None) -> None:
    """Where to wait (``PIXRET_TEST_HOLD``'s syntax; None: nowhere) and the pipe ends to talk on ("W,R"; None:
    keep the ones set); counts start again. Read from the environment when the module is imported."""
    global _points, _listing, _write_fd, _read_fd, _counts, _total
    if fds:
        _write_fd, _read_fd = (int(fd) for fd in fds.split(","))
    _listing = points == "list"
    _points = None if not points else frozenset(p.strip() for p in points.split(","))
    _counts, _total = {}, 0


def reached(name: str) -> None:
    """A point where a stop matters (a no-op unless a test asked to wait or list)."""
    if _points is None:
        return
    _reached(name)


def _reached(name: str) -> None:
    global _total, _seq
    if threading.current_thread() is not threading.main_thread():
        return
    _total += 1
    _counts[name] = count = _counts.get(name, 0) + 1
    point = f"{name}#{count}"
    if _listing:
        _say(f"point {point}")
        return
    if not {point, f"#{_total}", *((name,) if count == 1 else ())} & _points:
        return
    _seq += 1
    if _say(f"held {_seq} {point}"):
        _wait_for(f"go {_seq}".encode())


def _say(line: str) -> bool:
    """Write a line to the test; False if it no longer listens (then nothing waits for it)."""
    try:
        os.write(_write_fd, f"{line}\n".encode())
    except BrokenPipeError:
        return False
    return True


def _wait_for(line: bytes) -> None:
    global _unread
    while True:
        while b"\n" not in _unread:
            chunk = os.read(_read_fd, 4096)  # a signal's handler may raise here: that is the point
            if not chunk:
                return  # the test closed its end: go on
            _unread += chunk
        got, _unread = _unread.split(b"\n", 1)
        if got == line:
            return


configure(os.environ.get(HOLD), os.environ.get(FDS))
