"""A study's progress lines: how far it is, how long it took, how long is left.

>>> clock = StudyClock(total=4, start=0.0)
>>> clock.trained(seconds=30.0)
>>> clock.line(done=2, now=50.0)
'progress 2/4 repetitions, 50 s elapsed, ETA 1 min 0 s'
>>> duration(3725.0)
'1 h 2 min'
"""

from __future__ import annotations

import time


def duration(seconds: float) -> str:
    """Seconds as '12 s', '4 min 10 s' or '1 h 2 min'."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


class StudyClock:
    """Counts the repetitions this process trained and estimates the time left:
    the mean wall time of those repetitions times the number not yet on disk
    (skipped repetitions and those of other processes are not timed here).

    Args:
        total: the number of repetitions of the study.
        start: when the study started (``time.perf_counter()``); default now.
    """

    def __init__(self, total: int, start: float | None = None):
        self.total = total
        self.start = time.perf_counter() if start is None else start
        self.seconds: list[float] = []

    def trained(self, seconds: float) -> None:
        self.seconds.append(seconds)

    def line(self, done: int, now: float | None = None) -> str:
        """'progress 5/12 repetitions, 4 min 10 s elapsed, ETA 5 min 50 s'."""
        now = time.perf_counter() if now is None else now
        if done >= self.total:
            eta = "0 s"
        elif self.seconds:
            eta = duration(sum(self.seconds) / len(self.seconds) * (self.total - done))
        else:
            eta = "unknown (no repetition trained yet)"
        return (
            f"progress {done}/{self.total} repetitions, {duration(now - self.start)} "
            f"elapsed, ETA {eta}"
        )
