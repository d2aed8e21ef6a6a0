"""The floor a scan of phone photos is compared with: every photo decoded at full size with
Pillow (``Image.load``, nothing else) in 2 worker processes, as plain as decoding gets.

    python -m benchmarks.pillow_decode LIST

One JSON line: seconds of the timed pass (the pool started and warmed first), peak RSS of the
process and its workers, and the CPU use of both cores.
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image

from benchmarks.common import PeakMemory


def decode(path: str) -> tuple[int, int]:
    with Image.open(path) as image:
        image.load()
        return image.size


def cpu_seconds(pid: int) -> float:
    """utime + stime of a running process, from /proc (its children's times come only once it ends)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    paths = Path(sys.argv[1]).read_text().splitlines()
    memory = PeakMemory(os.getpid())
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(decode, paths[:2]))  # both workers started
        workers = [process.pid for process in pool._processes.values()]  # private, but the only way to ask
        before = sum(cpu_seconds(pid) for pid in workers)
        started = time.perf_counter()
        list(pool.map(decode, paths))
        seconds = time.perf_counter() - started
        busy = sum(cpu_seconds(pid) for pid in workers) - before
    print(json.dumps({"seconds": seconds, "peak_rss_mb": memory.stop(), "cpu_utilisation": busy / seconds / 2}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
