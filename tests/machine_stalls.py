"""How long the machine itself held back a real-time thread while a real-time test ran.

A virtual machine can stop its cores for tens of milliseconds (this project's machines do:
a real-time thread sleeping 1 ms woke 30-34 ms late on both cores at once every few minutes
with nothing else running, and 12-113 ms late several times a minute during the test
suite's heavy tests). Pd stops with it, and when it runs again
its scheduler computes every block it owes back to back: a worker thread that runs ahead by
a 40 ms budget cannot fill a 70 ms gap, whatever the code. A test of real-time playback
therefore charges to the machine at most as much lost audio as the machine stole, and
nothing more: with no stall, no loss.

One watcher process per core, pinned to it, at a real-time priority above Pd's (so that
Pd's threads cannot be what delays it), sleeps 1 ms at a time and reports every wake-up
later than a threshold.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

SLEEP_SECONDS = 0.001
WATCHER_PRIORITY = 50  # SCHED_FIFO; Pd asks for 6 (its watchdog 8) when it may

_WATCHER = f"""
import os, sys, time
os.sched_setaffinity(0, {{int(sys.argv[1])}})
try:
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param({WATCHER_PRIORITY}))
except PermissionError:
    pass  # a plain user: the watcher competes with Pd's threads, and reports more
threshold = float(sys.argv[2])
print("ready", flush=True)
while True:
    start = time.monotonic()
    time.sleep({SLEEP_SECONDS})
    late = time.monotonic() - start - {SLEEP_SECONDS}
    if late > threshold:
        print(start + {SLEEP_SECONDS}, late, flush=True)
"""


@dataclass
class Stalls:
    """Late wake-ups as (core, when it was due on time.monotonic(), seconds late)."""

    late: list[tuple[int, float, float]] = field(default_factory=list)

    def stolen_seconds(self) -> float:
        """The time during which at least one core held its real-time thread back: the
        union of the stalls over the cores (two cores stopped together count once)."""
        spans = sorted((due, due + late) for _, due, late in self.late)
        total, reach = 0.0, -float("inf")
        for start, end in spans:
            total += max(0.0, end - max(start, reach))
            reach = max(reach, end)
        return total

    def longest(self) -> float:
        return max((late for _, _, late in self.late), default=0.0)

    def __str__(self) -> str:
        return (f"{len(self.late)} stalls, longest {1e3 * self.longest():.1f} ms, "
                f"{1e3 * self.stolen_seconds():.1f} ms stolen in all")


@contextmanager
def watch_stalls(threshold_seconds: float = 0.005) -> Iterator[Stalls]:
    """Watches every core this process may run on while the body runs."""
    cores = sorted(os.sched_getaffinity(0))
    watchers = [subprocess.Popen([sys.executable, "-c", _WATCHER, str(core),
                                  str(threshold_seconds)], stdout=subprocess.PIPE, text=True)
                for core in cores]
    stalls = Stalls()
    try:
        for watcher in watchers:
            assert watcher.stdout.readline().strip() == "ready", "a stall watcher did not start"
        yield stalls
    finally:
        time.sleep(0.05)  # a stall at the very end is reported after it ends
        for core, watcher in zip(cores, watchers, strict=True):
            watcher.terminate()
            reports, _ = watcher.communicate()
            stalls.late += [(core, float(due), float(late))
                            for due, late in (line.split() for line in reports.splitlines())]
