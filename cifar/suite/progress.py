"""What a user waiting sees: processes done of the session's total, time elapsed, an estimate of what is left.

pytest prints a test's result only when the test returns, and a case's first test measures every configuration
and pass before it does, so a terminal would sit silent for minutes. `Progress` reports from the campaign, once
per child: on a terminal one line rewritten in place (and erased before pytest writes again); elsewhere (CI logs,
pipes) a line when a case starts and when it ends, and at most one every `interval` seconds in between. ``-q``
keeps the case lines only; ``-qq`` silences it. Nothing of this reaches the JSON.
"""

from __future__ import annotations

import time


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """``progress(case)`` after each child; `total` is the session's processes (cases x configurations x passes
    x arms, counted from the collected tests)."""

    def __init__(self, total: int, write, isatty: bool, verbosity: int = 0, clock=time.monotonic,
                 interval: float = 15.0):
        self.total, self.write, self.isatty, self.verbosity = total, write, isatty, verbosity
        self.clock, self.interval = clock, interval
        self.done = 0
        self.started = clock()
        self._case: str | None = None
        self._case_done = 0
        self._case_started = 0.0
        self._previous = self.started  # when the previous child ended: where the next case's time starts
        self._last_line = self.started

    def line(self, case: str) -> str:
        elapsed = self.clock() - self.started
        left = elapsed / self.done * (self.total - self.done) if self.done else None
        estimate = f", ~{_clock(left)} left" if left is not None and self.done < self.total else ""
        return (f"cifar: {self.done}/{self.total} processes, {case}: {self._case_done}, "
                f"{_clock(elapsed)} elapsed{estimate}")

    def __call__(self, case: str) -> None:
        if self.verbosity < -1:
            return
        if case != self._case:
            self.end_case()
            self._case, self._case_done, self._case_started = case, 0, self._previous
            if not self.isatty and self.verbosity >= 0:
                self.write(f"cifar: measuring {case}\n")
        self.done += 1
        self._case_done += 1
        now = self._previous = self.clock()
        if self.isatty:
            self.write("\r\x1b[2K" + self.line(case))
        elif self.verbosity >= 0 and now - self._last_line >= self.interval:
            self.write(self.line(case) + "\n")
            self._last_line = now

    def grow(self, processes: int) -> None:
        """A case added a pass (cifar.suite.campaign's adaptive effort): the session has more processes to run."""
        self.total += processes

    def end_case(self) -> None:
        """Erase the in-place line (a terminal) or say the case is done (elsewhere)."""
        if self._case is None:
            return
        if self.isatty:
            self.write("\r\x1b[2K")
        elif self.verbosity >= -1:
            self.write(f"cifar: {self._case}: {self._case_done} processes in "
                       f"{_clock(self._previous - self._case_started)}"
                       f" ({self.done}/{self.total} of the session)\n")
        self._case = None
