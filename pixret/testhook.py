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

``Held`` is the test's end: start a command held at some points, wait for each, signal, let it go. The points
there are, and the tests that use them: docs/testing.md.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
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


def _default_stop_signals() -> None:
    """In the child before it runs: Ctrl-C, SIGTERM and SIGHUP as in a terminal, even where the test runs with them
    ignored (under nohup, as a background job of a script: a process starts with what it inherits)."""
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        signal.signal(getattr(signal, name), signal.SIG_DFL)


class Held:
    """A command started with the hook on (the test's end of it): ``wait()`` for the point it holds at, signal it,
    ``go()`` on, ``finish()``.

        with Held(["pixret", "build", ...], "outputs.staged") as held:
            assert held.wait() == "outputs.staged#1"
            held.process.send_signal(signal.SIGTERM)
            held.go()
            code, stdout, stderr = held.finish()

    ``line()`` reads any line the process writes on the hook's pipe: ("held", NAME#N), ("point", NAME#N), or its
    own (a driver that runs many commands says there when one is done).
    """

    def __init__(self, args, points: str, env=None, timeout: float = 120, **popen):
        self._lines_r, lines_w = os.pipe()
        go_r, self._go_w = os.pipe()
        self.timeout = timeout
        env = {**(os.environ if env is None else env), HOLD: points, FDS: f"{lines_w},{go_r}"}
        try:
            self.process = subprocess.Popen(args, env=env, pass_fds=(lines_w, go_r), **{
                "stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True,
                "preexec_fn": _default_stop_signals, **popen})
        finally:
            os.close(lines_w)
            os.close(go_r)
        self._unread = b""
        self._seq = None

    def line(self) -> tuple[str, str] | None:
        """The next line on the hook's pipe as (its first word, the rest); None once the process has ended."""
        while b"\n" not in self._unread:
            with selectors.DefaultSelector() as selector:
                selector.register(self._lines_r, selectors.EVENT_READ)
                if not selector.select(self.timeout):
                    self.process.kill()
                    raise TimeoutError(f"{self.process.args}: said nothing in {self.timeout} s")
            chunk = os.read(self._lines_r, 4096)
            if not chunk:
                return None
            self._unread += chunk
        line, self._unread = self._unread.split(b"\n", 1)
        kind, _, rest = line.decode().partition(" ")
        if kind == "held":  # ("held", the point): the one ``go()`` lets go from
            self._seq, rest = rest.split(" ", 1)
        return kind, rest

    def wait(self) -> str | None:
        """The point (NAME#N) the command now waits at; None if it ended without reaching one."""
        said = self.line()
        if said is None:
            return None
        if said[0] != "held":
            raise AssertionError(f"expected a held point, got {' '.join(said)}")
        return said[1]

    def go(self) -> None:
        """Let the command go on from the point it waits at (it may have left it already: a signal's doing)."""
        try:
            os.write(self._go_w, f"go {self._seq}\n".encode())
        except BrokenPipeError:  # it has ended
            pass

    def finish(self) -> tuple[int, str, str]:
        """Let it run to its end (no more holding): (exit code, stdout, stderr)."""
        self._close()
        if self.process.stdin is not None and self.process.stdin.closed:
            self.process.stdin = None  # (communicate would flush it)
        stdout, stderr = self.process.communicate(timeout=self.timeout)
        return self.process.returncode, stdout, stderr

    def _close(self) -> None:
        for fd in (self._lines_r, self._go_w):
            if fd >= 0:
                os.close(fd)
        self._lines_r = self._go_w = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        self._close()
