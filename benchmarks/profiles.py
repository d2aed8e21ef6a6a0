"""The scan profiles side by side, in one run: accuracy, recall and ``photoface scan`` speed.

For each profile (``best`` holds the settings photoface used before profiles existed):
LFW View 2 accuracy with the profile's detector, precision and flip setting; recall and
precision on the 9 hand-boxed group photos and on 27 phone-sized (4000x3000) photos composed
from them (benchmarks/phone.py); then the real CLI, catalog writes included, on LFW images
and on 54 phone-sized photos: images/s, CPU use of both cores, peak RSS.

    python -m benchmarks.profiles [--lfw-images 2000] [--skip-lfw]   # about 20 min here
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.common import require_data, write_result
from benchmarks.datasets import read_face_boxes
from benchmarks.detection import boxed_recall
from benchmarks.lfw import verification
from benchmarks.phone import make_phone_photos
from benchmarks.scan_speed import linked_library, timed_cli_scan
from photoface import config
from photoface.engine import FaceEngine


def measure(profile: str, inputs: dict, lfw: bool, console: Console) -> dict:
    """``inputs``: folder (for catalogs), libraries {name: (folder, photo count)}, phone_truth."""
    engine = FaceEngine.from_profile(profile, "cpu")
    result = {"settings": vars(config.PROFILES[profile])}
    if lfw:
        result["lfw"] = verification(engine, console)
    result["groups"] = boxed_recall(engine, read_face_boxes(require_data("groups")))
    result["phone_detection"] = boxed_recall(engine, inputs["phone_truth"])
    for name, (library, count) in inputs["libraries"].items():
        run = timed_cli_scan(inputs["folder"] / f"{profile}-{name}.db", library, "--profile", profile)
        result[f"scan_{name}"] = {**run, "images": count, "images_per_second": count / run["seconds"]}
    console.print(f"{profile}: {_line(result)}")
    return result


def _line(result: dict) -> str:
    lfw = f"LFW {100 * result['lfw']['accuracy']:.2f}%, " if "lfw" in result else ""
    return (
        f"{lfw}groups {result['groups']['matched']}/{result['groups']['true_faces']}, "
        f"phone {result['phone_detection']['matched']}/{result['phone_detection']['true_faces']}, "
        f"scan LFW {result['scan_lfw']['images_per_second']:.1f}/s, "
        f"phone {result['scan_phone']['images_per_second']:.1f}/s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lfw-images", type=int, default=2000, help="LFW images each CLI scan indexes")
    parser.add_argument("--skip-lfw", action="store_true", help="no LFW accuracy (quick run)")
    parser.add_argument("--profiles", nargs="+", choices=config.PROFILES, default=list(config.PROFILES))
    args = parser.parse_args()
    console = Console()
    photos = sorted(require_data("lfw", "images").glob("*/*.jpg"))
    photos = photos[:: max(1, len(photos) // args.lfw_images)][: args.lfw_images]
    results = {}
    with tempfile.TemporaryDirectory(prefix="photoface-profiles-") as tmp:
        folder = Path(tmp)
        inputs = {
            "folder": folder,
            "phone_truth": make_phone_photos(folder / "phone-truth"),
            "libraries": {
                "lfw": (linked_library(folder / "lfw", photos), len(photos)),
                "phone": (folder / "phone", len(make_phone_photos(folder / "phone", repeats=2))),
            },
        }
        for profile in args.profiles:
            results[profile] = measure(profile, inputs, not args.skip_lfw, console)
    table = Table(title="scan profiles, one run (real CLI with catalog writes; 2 cores)")
    for column in ("profile", "LFW View 2", "group recall", "phone recall", "LFW scan", "12 MP scan", "CPU", "RSS"):
        table.add_column(column, justify="right")
    for profile, r in results.items():
        table.add_row(
            profile + (" (default)" if profile == config.DEFAULT_PROFILE else ""),
            f"{100 * r['lfw']['accuracy']:.2f}%" if "lfw" in r else "-",
            f"{r['groups']['matched']}/{r['groups']['true_faces']}",
            f"{r['phone_detection']['matched']}/{r['phone_detection']['true_faces']}",
            f"{r['scan_lfw']['images_per_second']:.1f}/s",
            f"{r['scan_phone']['images_per_second']:.1f}/s",
            f"{100 * r['scan_lfw']['cpu_utilisation']:.0f}% / {100 * r['scan_phone']['cpu_utilisation']:.0f}%",
            f"{r['scan_lfw']['peak_rss_mb']:.0f} / {r['scan_phone']['peak_rss_mb']:.0f} MB",
        )
    console.print(table)
    console.print(f"wrote {write_result('profiles', {'default': config.DEFAULT_PROFILE, 'profiles': results})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
