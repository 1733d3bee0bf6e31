"""The test's end of ``pixret.testhook``: ``Held`` starts a command with the hook on, waits for the point it holds at,
lets the test signal it there, and lets it go on (loaded by the ``holding`` fixture of conftest.py; the library's
end, ``testhook.reached``, ships with pixret).
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess

from pixret.testhook import FDS, HOLD

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
