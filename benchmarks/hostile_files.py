"""What a scan does with every kind of broken and odd file, and its peak memory on big photos.

    python -m benchmarks.hostile_files [--profiles balanced best]

Writes the generated library of ``tests/hostile.py`` (damaged copies of every format Pillow
writes, odd modes and layouts, non-images, non-files) plus, where the shared photos exist,
big photos with real faces (a 96 MP JPEG, 108 and 196 MP PNGs) beside small ones; scans each
with the real CLI at each profile; prints every file's outcome and the peak memory, and
writes ``benchmarks/results/hostile_files.json``.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
from pathlib import Path

from benchmarks.common import DATA, write_result
from photoface.catalog import path_from_db
from tests import hostile
from tests.conftest import run_photoface
from tests.test_hostile_files import _panorama_with_faces

BIG = {"panorama-96mp.jpg": ("JPEG", (12000, 8000)), "scan-108mp.png": ("PNG", (12000, 9000))}
HUGE = {"poster-196mp.png": ("PNG", (14000, 14000))}


def big_library(folder: Path) -> Path | None:
    groups = DATA / "groups"
    if not groups.exists():
        return None
    folder.mkdir()
    for name, (fmt, size) in {**BIG, **HUGE}.items():
        _panorama_with_faces(groups, folder / name, fmt, size)
    for photo in sorted(groups.glob("200*.jpg")):
        (folder / photo.name).symlink_to(photo)
    return folder


def outcomes(db: Path) -> dict[str, dict]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("""SELECT photos.path, photos.status, photos.error, count(faces.id) FROM photos
                               LEFT JOIN faces ON faces.photo_id = photos.id GROUP BY photos.id""").fetchall()
    return {Path(path_from_db(p)).name: {"status": s, "reason": e, "faces": n} for p, s, e, n in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", nargs="+", default=["balanced", "best"])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="photoface-hostile-"))
    kinds = hostile.write_library(work / "hostile")
    big = big_library(work / "big")
    results: dict = {"files": {}, "runs": []}
    for profile in args.profiles:
        for name, folder in (("hostile", work / "hostile"), ("big", big)):
            if folder is None:
                continue
            db = work / f"{name}-{profile}.db"
            run = run_photoface("--db", db, "scan", "--json", "--profile", profile, folder)
            report = run.json()
            stray = [line for line in run.stderr.splitlines() if not line.startswith(("failed: ", "warning: "))]
            results["runs"].append(
                {
                    "library": name,
                    "profile": profile,
                    "exit": run.returncode,
                    "peak_mb": round(run.peak_mb),
                    "seconds": report["seconds"],
                    "indexed": report["new"],
                    "failed": report["failed"],
                    "faces": report["faces"],
                    "stray_stderr_lines": len(stray),
                }
            )
            if profile == args.profiles[0]:
                for file, outcome in outcomes(db).items():
                    kind = kinds.get(file) or ("big photo" if file in {**BIG, **HUGE} else "small photo")
                    results["files"][file] = {"kind": kind, **outcome}
    for file in hostile.SKIPPED_NON_FILES:
        results["files"][file] = {"kind": "not a file", "status": "skipped (not a regular file)"}
    print(f"{'file':<40} {'kind':<10} {'outcome':<8} faces  reason")
    for file, outcome in sorted(results["files"].items()):
        reason = outcome.get("reason") or ""
        print(f"{file:<40} {outcome['kind']:<10} {outcome['status']:<8} {outcome.get('faces', ''):>5}  {reason}")
    print(f"\n{'library':<8} {'profile':<9} exit  peak MB  seconds  indexed  failed  faces  stray stderr lines")
    for run in results["runs"]:
        print(
            f"{run['library']:<8} {run['profile']:<9} {run['exit']:>4}  {run['peak_mb']:>7}  {run['seconds']:>7}"
            f"  {run['indexed']:>7}  {run['failed']:>6}  {run['faces']:>5}  {run['stray_stderr_lines']}"
        )
    print(f"\nwrote {write_result('hostile_files', results)}")


if __name__ == "__main__":
    main()
