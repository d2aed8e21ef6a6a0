"""``photoface scan`` itself on LFW: a full scan and a no-change rescan through the real CLI
(catalog writes included), peak memory and CPU use, then where a scan's time goes.

    python -m benchmarks.scan_speed              # all 13,233 LFW images (about 15 min here)
    python -m benchmarks.scan_speed --limit 1000

The photos are referenced through symbolic links in a temporary folder (never copied).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.common import PeakMemory, require_data, write_result
from benchmarks.engine_speed import StageClock
from photoface import config
from photoface.catalog import Catalog
from photoface.engine import FaceEngine
from photoface.engine import pipeline as pipeline_module
from photoface.engine.facenet import FaceEmbedder
from photoface.engine.mtcnn import MTCNN
from photoface.scan import Scanner


def linked_library(folder: Path, photos: list[Path]) -> Path:
    library = folder / "library"
    for photo in photos:
        target = library / photo.parent.name
        target.mkdir(parents=True, exist_ok=True)
        (target / photo.name).symlink_to(photo)
    return library


def timed_cli_scan(db: Path, library: Path, *options: str) -> dict:
    """One ``photoface scan`` in a child process: wall time, and that child's CPU time and peak RSS."""
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-m", "photoface", "--db", str(db), "scan", str(library), *options],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        peak = PeakMemory(child.pid)
        _, status, usage = os.wait4(child.pid, 0)  # this child's CPU time with its worker processes (it waits for them)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read().decode(errors="replace").strip()
    if child.returncode != 0:
        sys.exit(f"scan failed ({child.returncode}): {text}")
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "seconds": wall,
        "cpu_seconds": cpu,
        "cpu_utilisation": cpu / wall / (os.cpu_count() or 1),
        "peak_rss_mb": peak.stop(),
        "output": text,
    }


def clocked_scan(db: Path, library: Path, engine: FaceEngine) -> tuple[float, dict[str, float]]:
    """An in-process scan of ``library``: wall seconds and the busy seconds of each stage.

    Decoding runs in threads beside the engine, and the engine's workers overlap detection
    and embedding, so stages can add up to more than the wall time.
    """
    clock = StageClock()
    clock.wrap(Scanner, "_prepare", "read + hash + decode (decoding threads)")
    clock.wrap(MTCNN, "detect", "detect")
    clock.wrap(pipeline_module, "face_crop", "align")
    clock.wrap(FaceEmbedder, "embed", "embed")
    clock.wrap(Scanner, "_write", "catalog writes")
    try:
        with Catalog.open(db) as catalog:
            started = time.perf_counter()
            Scanner(catalog, engine).run([library])
            return time.perf_counter() - started, dict(clock.seconds)
    finally:
        clock.restore()


def time_split(folder: Path, photos: list[Path]) -> dict[str, float]:
    """Each stage's busy time as a share of the wall time of an in-process scan of ``photos``."""
    engine = FaceEngine.from_profile(config.DEFAULT_PROFILE, "cpu")
    wall, stages = clocked_scan(folder / "split.db", linked_library(folder / "split", photos), engine)
    return {stage: seconds / wall for stage, seconds in stages.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="only the first N images")
    parser.add_argument("--split-images", type=int, default=500, help="images for the time split")
    parser.add_argument("--keep", type=Path, help="copy the scanned catalog here (for the clustering benchmark)")
    args = parser.parse_args()
    console = Console()
    photos = sorted(require_data("lfw", "images").glob("*/*.jpg"))
    photos = photos[: args.limit] if args.limit else photos
    with tempfile.TemporaryDirectory(prefix="photoface-bench-") as tmp:
        folder = Path(tmp)
        library = linked_library(folder, photos)
        full = timed_cli_scan(folder / "c.db", library)
        rescan = timed_cli_scan(folder / "c.db", library)
        split = time_split(folder, photos[: args.split_images])
        catalog_mb = (folder / "c.db").stat().st_size / 1e6
        if args.keep:
            with Catalog.open(folder / "c.db") as catalog:  # a self-contained copy, WAL folded in
                catalog.db.execute("VACUUM INTO ?", [str(args.keep)])
    result = {
        "images": len(photos),
        "full_scan": full,
        "rescan": rescan,
        "catalog_mb": catalog_mb,
        "images_per_second": len(photos) / full["seconds"],
        "rescan_images_per_second": len(photos) / rescan["seconds"],
        "time_split": split,
        "split_images": min(args.split_images, len(photos)),
    }
    table = Table(title=f"photoface scan on {len(photos)} LFW images (real CLI, catalog writes included)")
    for column in ("run", "seconds", "images/s", "CPU use (of all cores)", "peak RSS"):
        table.add_column(column, justify="right")
    for name, run in (("full scan", full), ("no-change rescan", rescan)):
        table.add_row(
            name,
            f"{run['seconds']:.1f}",
            f"{len(photos) / run['seconds']:.1f}",
            f"{100 * run['cpu_utilisation']:.0f}%",
            f"{run['peak_rss_mb']:.0f} MB",
        )
    console.print(table)
    console.print(f"catalog size: {catalog_mb:.1f} MB")
    for stage, share in split.items():
        console.print(f"  {stage}: {100 * share:.0f}% of the wall time ({result['split_images']} images)")
    console.print(f"wrote {write_result('scan_speed', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
