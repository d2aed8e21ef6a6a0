"""Shared helpers of the benchmark scripts: data location, timing, results files."""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
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
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


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
