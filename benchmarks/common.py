"""Shared helpers of the benchmark scripts: data location, timing, results files."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import queue
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
DATA = Path(os.environ.get("PHOTOFACE_DATA", REPO.parent / "shared" / "data"))


def require_data(*parts: str) -> Path:
    path = DATA.joinpath(*parts)
    if not path.exists():
        sys.exit(f"{path} not found: set PHOTOFACE_DATA to the folder holding lfw/, fivecelebs/, groups/")
    return path


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM where there is /proc: ``ru_maxrss`` keeps the peak of the
    parent a child was forked from, so a small child of a big benchmark would look big."""
    peak = vm_hwm_mb("self")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def vm_hwm_mb(pid: int | str) -> float | None:
    """A running process's peak RSS from /proc (None when it is gone or there is no /proc)."""
    return _status_mb(pid, "VmHWM:")


def _status_mb(pid: int | str, field: str) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def descendants(pid: int) -> list[int]:
    """The processes started by ``pid``, and theirs, from /proc (a scan's worker processes)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        found.append(todo.pop())
        todo += children.get(found[-1], [])
    return found


def tree_rss_mb(pid: int) -> float | None:
    """The resident memory of a process and all its descendants now (a scan's worker processes
    count): VmRSS summed over the tree, from /proc. None when the process is gone."""
    own = _status_mb(pid, "VmRSS:")
    if own is None:
        return None
    return own + sum(_status_mb(child, "VmRSS:") or 0.0 for child in descendants(pid))


class PeakMemory:
    """The peak resident memory of a running process tree: the largest sum of its processes'
    RSS seen while sampling (every 50 ms), and at least the root's own VmHWM. (``ru_maxrss``
    would not do: Linux carries a forking parent's peak over into the child.)"""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_mb = 0.0
        self.running = True
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        while self.running:
            total, own = tree_rss_mb(self.pid), vm_hwm_mb(self.pid)
            if total is None or own is None:
                return
            self.peak_mb = max(self.peak_mb, total, own)
            time.sleep(0.05)

    def stop(self) -> float:
        self.running = False
        self.thread.join()
        return self.peak_mb


def write_result(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
        },
        **payload,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


@contextlib.contextmanager
def serving(db: Path, *extra: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """The real ``photoface serve`` in its own process (tests, benchmarks and tools start it
    this one way): the URL it printed, with its token, and the process, stopped afterwards."""
    process = subprocess.Popen(
        [sys.executable, "-m", "photoface", "--db", str(db), "serve", "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                line = lines.get(timeout=1)
                url = line.strip() if line.startswith("http://") else None
            if url is None and process.poll() is not None:
                raise RuntimeError(f"serve stopped: {process.stderr.read().strip()}")
        if url is None:
            raise RuntimeError("serve printed no URL within 60 s")
        yield url, process
    finally:
        process.terminate()
        process.wait(10)
