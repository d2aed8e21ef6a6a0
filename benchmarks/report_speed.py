"""How long ``photoface report`` takes and how heavy its pages are, on LFW and at 100k faces.

1. The scanned LFW catalog (13k faces), clustered: the report made from scratch, then again
   with every thumbnail cached (what a user sees after ``name`` or ``cluster``).
2. Scale: the same catalog grown to ``--faces`` faces spread over ``--people`` people (each
   extra face a copy of a real one with its box shifted, so each has its own thumbnail).

    python -m benchmarks.report_speed --db lfw.db [--faces 100000 --people 1000]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.common import peak_rss_mb, require_data, write_result
from photoface import people
from photoface.catalog import Catalog
from photoface.gallery import build_gallery


def measure(catalog: Catalog, output: Path) -> dict:
    runs = {}
    for state in ("cold", "cached"):
        report = build_gallery(catalog, output)
        runs[state] = {
            "seconds": round(report.seconds, 2),
            "thumbnails_made": report.thumbnails_made,
            "thumbnails_reused": report.thumbnails_reused,
        }
    pages = list(output.rglob("*.html"))
    return {
        "people": report.people,
        "faces": report.faces,
        "pages": len(pages),
        "html_mb": round(report.html_bytes / 1e6, 2),
        "thumbnails_mb": round(report.thumbnail_bytes / 1e6, 1),
        "index_kb": round((output / "index.html").stat().st_size / 1e3),
        "largest_page_kb": round(max(page.stat().st_size for page in pages) / 1e3),
        **{f"{state}_{key}": value for state, run in runs.items() for key, value in run.items()},
    }


def relocate(catalog: Catalog, images: Path) -> None:
    """Point the catalog (scanned from scan_speed's temporary library) at the LFW images themselves."""
    with catalog.transaction():
        catalog.db.execute("UPDATE photos SET path = ? || substr(path, instr(path, '/library/') + 8)", [str(images)])


def grow(catalog: Catalog, faces: int, persons: int) -> None:
    """Copies of the real faces (box shifted 1 px per copy) until ``faces``, over ``persons`` people."""
    db = catalog.db
    with catalog.transaction():
        have = db.execute("SELECT count(*) FROM faces").fetchone()[0]
        db.execute("UPDATE faces SET person_id = NULL, assigned = NULL")
        db.execute("DELETE FROM people")
        db["people"].insert_all(({"id": p + 1, "created_at": "x"} for p in range(persons)), batch_size=5000)
        copy = 1
        while have < faces:
            db.execute(
                """INSERT INTO faces (photo_id, x, y, w, h, score, size, landmarks, embedding, model)
                   SELECT photo_id, x + ?, y, w, h, score, size, landmarks, embedding, model FROM faces
                   WHERE id <= ? ORDER BY id LIMIT ?""",
                [copy, have, faces - have],
            )
            have = db.execute("SELECT count(*) FROM faces").fetchone()[0]
            copy += 1
        # People of uneven size, as in a real library: person p gets a share falling with p.
        db.execute("UPDATE faces SET person_id = 1 + (id * 7919 % (id % ? + 1)), assigned = 'auto'", [persons])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, required=True, help="a scanned LFW catalog (benchmarks.scan_speed --keep)")
    parser.add_argument("--faces", type=int, default=100_000)
    parser.add_argument("--people", type=int, default=1_000)
    args = parser.parse_args()
    console = Console()
    results = {}
    with tempfile.TemporaryDirectory(prefix="photoface-report-") as tmp:
        db = Path(tmp) / "lfw.db"
        shutil.copy(args.db, db)
        with Catalog.open(db) as catalog:
            relocate(catalog, require_data("lfw", "images"))
            people.cluster(catalog)
            results["lfw"] = measure(catalog, Path(tmp) / "lfw")
            console.print(f"LFW: {results['lfw']}")
            grow(catalog, args.faces, args.people)
            results["scale"] = measure(catalog, Path(tmp) / "scale")
            console.print(f"scale: {results['scale']}")
    table = Table(title="photoface report: generation time and page weight")
    for column in (
        "catalog",
        "people",
        "faces",
        "pages",
        "cold s",
        "cached s",
        "HTML",
        "index",
        "largest page",
        "thumbs",
    ):
        table.add_column(column, justify="right")
    for name, run in results.items():
        table.add_row(
            name,
            f"{run['people']:,}",
            f"{run['faces']:,}",
            f"{run['pages']:,}",
            f"{run['cold_seconds']:.1f}",
            f"{run['cached_seconds']:.1f}",
            f"{run['html_mb']} MB",
            f"{run['index_kb']} kB",
            f"{run['largest_page_kb']} kB",
            f"{run['thumbnails_mb']} MB",
        )
    console.print(table)
    results["peak_rss_mb"] = round(peak_rss_mb())
    console.print(f"peak RSS {results['peak_rss_mb']} MB; wrote {write_result('report_speed', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
