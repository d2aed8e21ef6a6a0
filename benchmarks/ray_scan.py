"""``photoface scan --ray`` on one machine against the built-in pipeline, and the driver's ceiling.

    python -m pip install ".[ray]"
    python -m benchmarks.ray_scan [--limit 2000]

1. The same LFW images scanned by the real CLI, built-in pipeline and ``--ray`` (a Ray started
   by photoface on this machine, engine actors on its cores), alternating, two passes each.
2. The driver's ceiling: ``Scanner`` with a pool of Ray actors that only pretend (each photo
   comes back at once with one made-up face), so what is measured is the driver: walking,
   comparing with the catalog, Ray's round trips and the SQLite writes. From it and one
   machine's rate, the cluster size at which the driver becomes the bottleneck.

Writes ``benchmarks/results/ray_scan.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.common import require_data, vm_hwm_mb, write_result
from benchmarks.scan_speed import linked_library
from photoface.catalog import Catalog
from photoface.distributed import RayAnalysis
from photoface.engine import Face, FaceEngine
from photoface.scan import Analysed, EngineSettings, Prepared, Scanner


class PretendWorker:
    """An actor that analyses nothing: one made-up face per photo, at once."""

    def __init__(self, settings: EngineSettings) -> None:
        rng = np.random.default_rng(0)
        vector = rng.normal(size=128).astype(np.float32)
        self.face = Face(
            (10.0, 10.0, 100.0, 100.0), 0.99, np.zeros((5, 2), np.float32), vector / np.linalg.norm(vector)
        )

    def pid(self) -> int:
        import os

        return os.getpid()

    def analyse(self, batch, rescan: bool) -> list[Prepared]:
        return [
            Prepared(
                walked,
                own,
                hashlib.blake2b(walked.path.encode(), digest_size=16).hexdigest(),
                analysed=Analysed((250, 250), 1, None, [self.face]),
            )
            for walked, own, _ in batch
        ]


def cli_scan(library: Path, db: Path, ray: bool) -> dict:
    command = [sys.executable, "-m", "photoface", "--db", str(db), "scan", "--json", str(library)]
    if ray:
        command[6:6] = ["--ray", "local"]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0.0
    while process.poll() is None:
        peak = max(peak, vm_hwm_mb(process.pid) or 0.0)
        time.sleep(0.1)
    out, err = process.communicate()
    if process.returncode:
        raise SystemExit(f"scan failed: {err}")
    report = json.loads(out)
    wall = time.perf_counter() - started  # the whole command: Python, models or Ray starting, the scan
    return {
        "seconds": report["seconds"],
        "photos_per_s": report["new"] / report["seconds"],
        "wall_seconds": wall,
        "wall_photos_per_s": report["new"] / wall,
        "driver_peak_mb": peak,
    }


def driver_ceiling(library: Path, folder: Path) -> dict:
    remote = RayAnalysis(None, EngineSettings("balanced", "cpu"), worker=PretendWorker)
    try:
        with Catalog.open(folder / "ceiling.db") as catalog:
            scanner = Scanner(catalog, FaceEngine.from_profile("balanced", "cpu"), remote=remote)
            started = time.perf_counter()
            summary = scanner.run([library])
            seconds = time.perf_counter() - started
    finally:
        remote.close()
    return {"photos": summary.new, "seconds": seconds, "photos_per_s": summary.new / seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=2000)
    args = parser.parse_args()
    photos = sorted(require_data("lfw", "images").glob("*/*.jpg"))[: args.limit]
    console = Console()
    runs: dict[str, list[dict]] = {"built-in": [], "ray": []}
    with tempfile.TemporaryDirectory(prefix="photoface-ray-") as tmp:
        library = linked_library(Path(tmp), photos)
        for attempt in range(2):
            for name in ("built-in", "ray"):
                runs[name].append(cli_scan(library, Path(tmp) / f"{name}-{attempt}.db", name == "ray"))
                console.print(f"{name} pass {attempt + 1}: {runs[name][-1]['photos_per_s']:.1f} photos/s")
        ceiling = driver_ceiling(library, Path(tmp))
    best = {name: max(r["photos_per_s"] for r in results) for name, results in runs.items()}
    ratio = best["ray"] / best["built-in"]
    machines = ceiling["photos_per_s"] / best["ray"]
    table = Table(title=f"{len(photos):,} LFW images, the real CLI, 2 cores, best of 2 passes")
    for column in ("pipeline", "scan photos/s", "scan s", "command s (with start-up)", "driver peak RSS"):
        table.add_column(column, justify="right")
    for name, results in runs.items():
        fastest = max(results, key=lambda r: r["photos_per_s"])
        table.add_row(
            name,
            f"{fastest['photos_per_s']:.1f}",
            f"{fastest['seconds']:.1f}",
            f"{fastest['wall_seconds']:.1f}",
            f"{fastest['driver_peak_mb']:.0f} MB",
        )
    console.print(table)
    console.print(
        f"--ray on one machine: {ratio:.2f} of the built-in pipeline. Driver ceiling (pretend actors): "
        f"{ceiling['photos_per_s']:.0f} photos/s, so about {machines:.0f} machines like this one before the "
        "driver is the bottleneck (LFW-sized photos; larger photos take longer, so more machines)"
    )
    path = write_result(
        "ray_scan",
        {"photos": len(photos), "runs": runs, "best": best, "ratio": ratio, "ceiling": ceiling, "machines": machines},
    )
    console.print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
