"""The demo: the sample photos that ship with the package, scanned and clustered into a
catalog of their own, so a first try never mixes five celebrities into someone's family."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

from photoface.catalog import APP_NAME, Catalog
from photoface.clustering import ClusterSettings
from photoface.crawler import is_image_name
from photoface.people import ClusterReport, cluster
from photoface.scan import RemoteAnalysis, ScanOptions, ScanProgress, ScanSummary, scan

if TYPE_CHECKING:
    from photoface.engine import FaceEngine

SAMPLE = "sample"  # photoface/sample/: one folder per person, two group photos, LICENSE.md


def demo_path() -> Path:
    """``demo.db`` beside the default catalog. Deliberately not ``$PHOTOFACE_DB``: that names
    the user's own catalog, the one place the demo must never write."""
    return Path(platformdirs.user_data_dir(APP_NAME)) / "demo.db"


@contextmanager
def sample_folder() -> Iterator[Path]:
    """The bundled sample as a folder on disk, read in place (an installed package is one)."""
    with resources.as_file(resources.files("photoface") / SAMPLE) as folder:
        yield Path(folder)


def sample_photos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if is_image_name(p.name))


@dataclass
class DemoReport:
    db: Path
    sample: Path
    scanned: ScanSummary
    clustered: ClusterReport
    people: list[dict]  # as Catalog.people: largest first
    unassigned: int


def run_demo(
    db: Path,
    engine: FaceEngine,
    *,
    jobs: int = 2,
    progress: ScanProgress | None = None,
    remote: RemoteAnalysis | None = None,
) -> DemoReport:
    """Scan the sample into ``db`` and cluster it. Run again, the scan is incremental (every
    photo unchanged) and clustering has nothing new, so names given in between stay."""
    with sample_folder() as folder, Catalog.open(db, create=True) as catalog:
        scanned = scan(catalog, [folder], engine, ScanOptions(jobs=jobs), progress, remote=remote)
        clustered = cluster(catalog, ClusterSettings())
        return DemoReport(db, folder, scanned, clustered, catalog.people(), catalog.unassigned_faces())
