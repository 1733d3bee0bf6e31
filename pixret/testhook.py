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

``Held`` is the test's end: start a command held at some points, wait for each, signal, let it go.
"""

from __future__ import annotations

import os
import selectors
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
        os.write(_write_fd, f"point {point}\n".encode())
        return
    if not {point, f"#{_total}", *((name,) if count == 1 else ())} & _points:
        return
    _seq += 1
    os.write(_write_fd, f"held {_seq} {point}\n".encode())
    _wait_for(f"go {_seq}".encode())


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


class Held:
    """A command started with the hook on: ``wait()`` for the next point it holds at (or its end), ``go()`` on.

        with Held([pixret, "build", ...], "outputs.staged") as held:
            assert held.wait() == "outputs.staged#1"
            held.process.send_signal(signal.SIGTERM)
            held.go()
            code, stdout, stderr = held.finish()
    """

    def __init__(self, args, points: str, env=None, timeout: float = 120, **popen):
        self._held_r, held_w = os.pipe()
        go_r, self._go_w = os.pipe()
        self.timeout = timeout
        env = {**(os.environ if env is None else env), HOLD: points, FDS: f"{held_w},{go_r}"}
        try:
            self.process = subprocess.Popen(args, env=env, pass_fds=(held_w, go_r), stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, text=True, **popen)
        finally:
            os.close(held_w)
            os.close(go_r)
        self._lines = b""
        self._seq = None

    def wait(self) -> str | None:
        """The point (NAME#N) the command now waits at; None if it ended without reaching another one."""
        while b"\n" not in self._lines:
            with selectors.DefaultSelector() as selector:
                selector.register(self._held_r, selectors.EVENT_READ)
                if not selector.select(self.timeout):
                    self.process.kill()
                    raise TimeoutError(f"{self.process.args}: reached no point in {self.timeout} s")
            chunk = os.read(self._held_r, 4096)
            if not chunk:
                return None
            self._lines += chunk
        line, self._lines = self._lines.split(b"\n", 1)
        _, self._seq, point = line.decode().split(" ", 2)
        return point

    def go(self) -> None:
        """Let the command go on from the point it waits at (it may have ended already: a signal's doing)."""
        try:
            os.write(self._go_w, f"go {self._seq}\n".encode())
        except BrokenPipeError:
            pass

    def finish(self) -> tuple[int, str, str]:
        """Let it run to its end: (exit code, stdout, stderr)."""
        self.close_pipes()
        stdout, stderr = self.process.communicate(timeout=self.timeout)
        return self.process.returncode, stdout, stderr

    def close_pipes(self) -> None:
        for fd in (self._held_r, self._go_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._held_r = self._go_w = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()
        self.close_pipes()
