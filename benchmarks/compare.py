"""photoface side by side with what people would pick instead, on the same photos, in one run.

Pipelines (each pass a child process of its own; see benchmarks/pipelines.py):

* ``photoface``: the real scan at the default profile (decoding threads, engine, catalog writes);
* ``photoface best``: the same at the ``best`` profile (fp32, min face 20, flip averaging);
* ``pytorch``: the same MTCNN + FaceNet networks in plain PyTorch (fp32, MTCNN's published
  settings, no flip), driven by photoface's own glue, so only the runtime differs;
* ``face_recognition``: dlib's HOG detector and 128-d encoder, 2 worker processes, as its
  ``--cpus 2`` command runs them (its own environment: benchmarks/peers/setup.sh).

First, the real CLI as users run it (process start, model loading, catalog writes included):
``photoface scan`` on the 300 LFW images against face_recognition in 2 processes, and on 27
phone-sized photos against a plain full-size Pillow decode of the same files in 2 processes
(benchmarks/pillow_decode.py): the ratios the scan-speed issue set goals for (6x; 0.65).
``--cli-only`` stops there (about 3 minutes).

Inputs: 300 LFW images, the 118 fivecelebs photos, the 9 hand-boxed group photos and 9
phone-sized 4000x3000 photos made from them (benchmarks/phone.py). Each pass runs every
pipeline on every input in turn (alternating), after a warm-up; medians of ``--passes``.
Then accuracy in the same run (LFW View 2, 10 folds, one face rule for all; recall on the
boxed groups and the phone photos), this CPU's measured multiply-accumulate peak against
the networks' MACs, and ``photoface scan`` itself on all 13,233 LFW files.

    bash benchmarks/peers/setup.sh                 # once: face_recognition's environment
    python -m benchmarks.compare                   # about 30 min on 2 cores
    python -m benchmarks.compare --cli-only --passes 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from rich.console import Console

from benchmarks.common import REPO, RESULTS, require_data, write_result
from benchmarks.datasets import detection_scores, read_face_boxes, read_pairs
from benchmarks.lfw import CENTRE_BOX, evaluate, main_face, pair_distances
from benchmarks.limits import count_macs, peak_gmacs
from benchmarks.phone import make_phone_photos
from benchmarks.scan_speed import linked_library, timed_cli_scan
from photoface import config
from photoface.engine import FaceEngine
from photoface.engine.models import model_path
from photoface.engine.mtcnn import Detections, ONet, RNet, pyramid_scales

PIPELINES = ("photoface", "photoface-best", "pytorch", "face_recognition")
LABELS = {
    "photoface": f"photoface ({config.DEFAULT_PROFILE})",
    "photoface-best": "photoface (best)",
    "pytorch": "same nets, PyTorch",
    "face_recognition": "face_recognition (dlib)",
}
PEERS_PYTHON = REPO / ".venv-peers" / "bin" / "python"


def run_child(pipeline: str, paths: list[Path], folder: Path, *, fallback: bool = False) -> tuple[dict, dict]:
    """One pass of ``pipeline`` over ``paths`` in a fresh process: (timing, outputs)."""
    listing = folder / "list.txt"
    listing.write_text("\n".join(map(str, paths)))
    out = folder / "out.npz"
    extra = ["--fallback", ",".join(f"{v:g}" for v in CENTRE_BOX)] if fallback else []
    if pipeline == "face_recognition":
        script = REPO / "benchmarks" / "peers" / "face_recognition_child.py"
        command = [str(peers_python()), str(script), str(listing), str(out), *extra]
    else:
        command = [sys.executable, "-m", "benchmarks.pipelines", pipeline, str(listing), str(out), *extra]
    child = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False)
    if child.returncode != 0:
        sys.exit(f"{pipeline} failed:\n{child.stderr[-3000:]}")
    timing = json.loads(child.stdout.strip().splitlines()[-1])
    with np.load(out) as data:
        outputs = {key: data[key] for key in data.files}
    return timing, outputs


def peers_python() -> Path:
    path = Path(os.environ.get("PHOTOFACE_PEERS_PYTHON", PEERS_PYTHON))
    if not path.exists():
        sys.exit(f"{path} not found: run 'bash benchmarks/peers/setup.sh' (or set PHOTOFACE_PEERS_PYTHON)")
    return path


def per_image(outputs: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    ends = np.cumsum(outputs["counts"])
    starts = ends - outputs["counts"]
    return [(outputs["boxes"][a:b], outputs["embeddings"][a:b]) for a, b in zip(starts, ends, strict=True)]


# ---------------------------------------------------------------------------- speed
def speed(datasets: dict[str, list[Path]], pipelines: list[str], passes: int, console: Console) -> dict:
    runs: dict[str, dict[str, list]] = {p: {d: [] for d in datasets} for p in pipelines}
    outputs: dict[str, dict[str, dict]] = {p: {} for p in pipelines}
    with tempfile.TemporaryDirectory(prefix="photoface-compare-") as tmp:
        for number in range(passes):
            for dataset, paths in datasets.items():
                for pipeline in pipelines:
                    timing, found = run_child(pipeline, paths, Path(tmp))
                    runs[pipeline][dataset].append(timing)
                    outputs[pipeline][dataset] = found
                    console.print(
                        f"pass {number + 1}/{passes} {dataset:10} {pipeline:16} "
                        f"{len(paths) / timing['seconds']:6.1f} images/s, {timing['peak_rss_mb']:.0f} MB"
                    )
    result = {}
    for pipeline in pipelines:
        result[pipeline] = {}
        for dataset, paths in datasets.items():
            timings = runs[pipeline][dataset]
            seconds = statistics.median(t["seconds"] for t in timings)
            faces = int(outputs[pipeline][dataset]["counts"].sum())
            entry = {
                "images": len(paths),
                "seconds_median": seconds,
                "seconds_all": [t["seconds"] for t in timings],
                "images_per_second": len(paths) / seconds,
                "faces": faces,
                "faces_per_second": faces / seconds,
                "peak_rss_mb": max(t["peak_rss_mb"] for t in timings),
            }
            if "stages" in timings[0]:
                entry["stage_ms_per_image"] = {
                    stage: 1000 * statistics.median(t["stages"][stage] for t in timings) / len(paths)
                    for stage in timings[0]["stages"]
                }
            result[pipeline][dataset] = entry
    return {"runs": result, "outputs": outputs}


# ---------------------------------------------------------------------------- accuracy
def lfw_accuracy(pipeline: str, console: Console) -> dict:
    """LFW View 2 with one rule for all: the face whose box holds the image centre (largest),
    else the nearest; no face: the fixed central box."""
    lfw = require_data("lfw")
    pairs = read_pairs(lfw / "pairs.txt", lfw / "images")
    paths = sorted({*pairs.left, *pairs.right})
    with tempfile.TemporaryDirectory(prefix="photoface-lfw-") as tmp:
        timing, outputs = run_child(pipeline, paths, Path(tmp), fallback=True)
    fallbacks = dict(zip(outputs["fallback_index"].tolist(), outputs["fallback"], strict=True))
    vectors = []
    for index, (boxes, embeddings) in enumerate(per_image(outputs)):
        found = Detections(boxes, np.ones(len(boxes)), np.zeros((len(boxes), 5, 2)))
        chosen = main_face(found, 250, 250)
        vectors.append(fallbacks[index] if chosen is None else embeddings[chosen])
    result = evaluate(pair_distances(np.stack(vectors), paths, pairs), pairs)
    result |= {"no_face": len(fallbacks), "images": len(paths), "seconds": timing["seconds"]}
    console.print(
        f"LFW {pipeline}: {100 * result['accuracy']:.2f}% ± {100 * result['std']:.2f}, no face in {len(fallbacks)}"
    )
    return result


def recall(outputs: dict, paths: list[Path], truth: dict[Path, np.ndarray]) -> dict:
    return detection_scores([(truth[path], boxes) for path, (boxes, _) in zip(paths, per_image(outputs), strict=True)])


# ---------------------------------------------------------------------------- the limit
def network_macs(lfw_paths: list[Path]) -> dict:
    """MACs per face (FaceNet) and per LFW-size image (MTCNN at the default profile, counting
    the R-Net and O-Net crops it really makes on ``lfw_paths``)."""
    profile = config.PROFILES[config.DEFAULT_PROFILE]
    engine = FaceEngine.from_profile(config.DEFAULT_PROFILE, "cpu")
    crops = {"rnet": 0, "onet": 0}
    originals = {"rnet": RNet.score, "onet": ONet.score}

    def counting(name: str):
        def score(self, image, boxes):
            crops[name] += len(boxes)
            return originals[name](self, image, boxes)

        return score

    RNet.score, ONet.score = counting("rnet"), counting("onet")
    try:
        for path in lfw_paths:
            engine.detect(engine.load(path))
    finally:
        RNet.score, ONet.score = originals["rnet"], originals["onet"]
    pnet = sum(
        count_macs(model_path("pnet"), (1, 3, int(np.ceil(250 * s)), int(np.ceil(250 * s))))
        for s in pyramid_scales(250, 250, profile.min_face, profile.factor)
    )
    per_crop = {name: count_macs(model_path(name), (1, 3, side, side)) for name, side in (("rnet", 24), ("onet", 48))}
    mtcnn = pnet + sum(per_crop[name] * crops[name] / len(lfw_paths) for name in crops)
    return {
        "facenet_per_face": count_macs(model_path("facenet"), (1, 3, 160, 160)),
        "mtcnn_per_lfw_image": mtcnn,
        "pnet_per_lfw_image": pnet,
        "crops_per_image": {name: crops[name] / len(lfw_paths) for name in crops},
    }


def limit(macs: dict, runs: dict, peak: dict[str, float] | None = None) -> dict:
    peak = peak or peak_gmacs()
    run = runs["photoface"]["lfw"]
    profile = config.PROFILES[config.DEFAULT_PROFILE]
    facenet_peak = peak[profile.precision]
    # FaceNet runs twice per face with flip averaging.
    faces_per_image = run["faces"] / run["images"] * (2 if profile.flip else 1)
    # Seconds of a perfect CPU per image: every MAC at the measured peak of its precision.
    ideal = macs["mtcnn_per_lfw_image"] / (peak["fp32"] * 1e9) + faces_per_image * macs["facenet_per_face"] / (
        facenet_peak * 1e9
    )
    return {
        "peak_gmacs": peak,
        "ideal_images_per_second": 1 / ideal,
        "achieved_images_per_second": run["images_per_second"],
        "fraction_of_peak": run["images_per_second"] * ideal,
    }


# ---------------------------------------------------------------------------- report
def markdown(result: dict) -> str:
    runs, names = (
        result["speed"],
        {"lfw": "300 LFW", "fivecelebs": "118 fivecelebs", "groups": "9 groups", "phone": "9 phone 12 MP"},
    )
    lines = [
        "| pipeline | "
        + " | ".join(f"{names[d]} images/s" for d in result["datasets"])
        + " | faces/s (LFW) | peak RSS |"
    ]
    lines.append("|---" * (len(result["datasets"]) + 3) + "|")
    for pipeline, per in runs.items():
        cells = [f"{per[d]['images_per_second']:.1f}" for d in result["datasets"]]
        rss = max(per[d]["peak_rss_mb"] for d in per)
        lines.append(
            f"| {LABELS[pipeline]} | " + " | ".join(cells) + f" | {per['lfw']['faces_per_second']:.1f} | {rss:.0f} MB |"
        )
    lines += [
        "",
        "| pipeline | LFW View 2 | no face (of 7,701) | group recall / precision | phone recall / precision |",
        "|---|---|---|---|---|",
    ]
    for pipeline in runs:
        lfw = result["lfw"].get(pipeline)
        group, phone = result["groups"][pipeline], result["phone"][pipeline]
        lines.append(
            f"| {LABELS[pipeline]} | "
            + (f"{100 * lfw['accuracy']:.2f}% ± {100 * lfw['std']:.2f} | {lfw['no_face']}" if lfw else "- | -")
            + f" | {group['matched']}/{group['true_faces']} / {group['precision']:.2f}"
            + f" | {phone['matched']}/{phone['true_faces']} / {phone['precision']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def chart(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets, runs = result["datasets"], result["speed"]
    figure, axis = plt.subplots(figsize=(9, 4.2), dpi=120)
    width = 0.8 / len(runs)
    for number, (pipeline, per) in enumerate(runs.items()):
        values = [per[d]["images_per_second"] for d in datasets]
        bars = axis.bar(np.arange(len(datasets)) + number * width, values, width, label=LABELS[pipeline])
        axis.bar_label(bars, fmt="%.1f", fontsize=7)
    axis.set_xticks(
        np.arange(len(datasets)) + width * (len(runs) - 1) / 2,
        ["300 LFW", "118 fivecelebs", "9 groups", "9 phone 12 MP"],
    )
    axis.set_yscale("log")
    axis.set_ylabel("images per second (log scale)")
    axis.set_title("Face detection + embedding on 2 CPU cores (higher is better)")
    axis.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)


# ---------------------------------------------------------------------------- the CLI and its floors
def cli_side_by_side(lfw: list[Path], phone: list[Path], passes: int, console: Console) -> dict:
    """The real ``photoface scan`` (process start, model loading and catalog writes included)
    against face_recognition in 2 processes on the same LFW images, and against a plain
    full-size Pillow decode in 2 processes on the same phone photos; alternating, medians."""
    runs: dict[str, list[dict]] = {"scan_lfw": [], "face_recognition_lfw": [], "scan_phone": [], "decode_phone": []}
    with tempfile.TemporaryDirectory(prefix="photoface-cli-") as tmp:
        folder = Path(tmp)
        libraries = {"lfw": linked_library(folder / "lfw", lfw), "phone": linked_library(folder / "phone", phone)}
        listing = folder / "phone.txt"
        listing.write_text("\n".join(map(str, phone)))
        for number in range(passes):
            for name, library in libraries.items():
                db = folder / f"{name}-{number}.db"
                runs[f"scan_{name}"].append(timed_cli_scan(db, library))
            timing, _ = run_child("face_recognition", lfw, folder)
            runs["face_recognition_lfw"].append(timing)
            child = subprocess.run(
                [sys.executable, "-m", "benchmarks.pillow_decode", str(listing)],
                capture_output=True,
                text=True,
                cwd=REPO,
                check=True,
            )
            runs["decode_phone"].append(json.loads(child.stdout.strip().splitlines()[-1]))
            console.print(
                f"cli pass {number + 1}/{passes}: "
                + ", ".join(f"{key} {run[-1]['seconds']:.1f} s" for key, run in runs.items())
            )
    counts = {"lfw": len(lfw), "phone": len(phone)}
    result = {}
    for key, timings in runs.items():
        images = counts[key.rsplit("_", 1)[1]]
        seconds = statistics.median(t["seconds"] for t in timings)
        result[key] = {
            "images": images,
            "seconds_median": seconds,
            "seconds_all": [t["seconds"] for t in timings],
            "images_per_second": images / seconds,
            "peak_rss_mb": max(t["peak_rss_mb"] for t in timings),
            "cpu_utilisation": statistics.median(t["cpu_utilisation"] for t in timings)
            if "cpu_utilisation" in timings[0]
            else None,
        }
    result["ratios"] = {
        "scan_over_face_recognition_lfw": result["scan_lfw"]["images_per_second"]
        / result["face_recognition_lfw"]["images_per_second"],
        "scan_over_decode_phone": result["scan_phone"]["images_per_second"]
        / result["decode_phone"]["images_per_second"],
    }
    return result


def cli_markdown(cli: dict) -> str:
    labels = {
        "scan_lfw": "`photoface scan`, 300 LFW",
        "face_recognition_lfw": "face_recognition, 2 processes, 300 LFW",
        "scan_phone": "`photoface scan`, phone photos",
        "decode_phone": "Pillow full-size decode, 2 processes, phone photos",
    }
    lines = ["| run | images/s | CPU use of 2 cores | peak RSS |", "|---|---|---|---|"]
    for key, label in labels.items():
        run = cli[key]
        cpu = f"{100 * run['cpu_utilisation']:.0f}%" if run["cpu_utilisation"] is not None else "-"
        lines.append(f"| {label} | {run['images_per_second']:.1f} | {cpu} | {run['peak_rss_mb']:.0f} MB |")
    ratios = cli["ratios"]
    lines += [
        "",
        f"scan / face_recognition on LFW: **{ratios['scan_over_face_recognition_lfw']:.2f}x** (goal 6x); "
        f"scan / decode on phone photos: **{ratios['scan_over_decode_phone']:.2f}** (goal 0.65)",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--pipelines", nargs="+", choices=PIPELINES, default=list(PIPELINES))
    parser.add_argument("--skip-lfw", action="store_true", help="no LFW View 2 accuracy (quick run)")
    parser.add_argument("--skip-full-scan", action="store_true", help="no photoface scan of all LFW files")
    parser.add_argument("--chart", type=Path, default=REPO / "docs" / "benchmarks.png")
    parser.add_argument(
        "--cli-only", action="store_true", help="only the real CLI against face_recognition and a plain decode"
    )
    parser.add_argument("--phone-photos", type=int, default=27, help="phone photos for the CLI runs")
    args = parser.parse_args()
    console = Console()
    lfw_all = sorted(require_data("lfw", "images").glob("*/*.jpg"))
    lfw_300 = lfw_all[:: len(lfw_all) // 300][:300]
    with tempfile.TemporaryDirectory(prefix="photoface-phone-") as phone_dir:
        phones = sorted(make_phone_photos(Path(phone_dir), repeats=-(-args.phone_photos // 27)))[: args.phone_photos]
        cli = cli_side_by_side(lfw_300, phones, args.passes, console)
    console.print(cli_markdown(cli))
    if args.cli_only:
        (RESULTS / "compare_cli.md").write_text(cli_markdown(cli))
        console.print(f"wrote {write_result('compare_cli', cli)}, {RESULTS / 'compare_cli.md'}")
        return 0
    groups_truth = read_face_boxes(require_data("groups"))
    with tempfile.TemporaryDirectory(prefix="photoface-phone-") as phone_dir:
        phone_truth = make_phone_photos(Path(phone_dir))
        datasets = {
            "lfw": lfw_300,
            "fivecelebs": sorted(require_data("fivecelebs").glob("*/*/*.jpg")),
            "groups": sorted(groups_truth),
            # One phone photo per group photo, the three fills in turn: face_recognition takes
            # about 8 s on each, so 9 rather than 27 keep the run within 30 minutes.
            "phone": [sorted(phone_truth)[3 * i + i % 3] for i in range(len(phone_truth) // 3)],
        }
        measured = speed(datasets, args.pipelines, args.passes, console)
        result = {
            "cli": cli,
            "datasets": list(datasets),
            "passes": args.passes,
            "speed": measured["runs"],
            "groups": {
                p: recall(measured["outputs"][p]["groups"], datasets["groups"], groups_truth) for p in args.pipelines
            },
            "phone": {
                p: recall(measured["outputs"][p]["phone"], datasets["phone"], phone_truth) for p in args.pipelines
            },
        }
    result["lfw"] = {} if args.skip_lfw else {p: lfw_accuracy(p, console) for p in args.pipelines}
    result["macs"] = network_macs(datasets["lfw"])
    result["limit"] = limit(result["macs"], result["speed"])
    console.print(f"limit: {result['limit']}")
    if not args.skip_full_scan:
        with tempfile.TemporaryDirectory(prefix="photoface-fullscan-") as tmp:
            run = timed_cli_scan(Path(tmp) / "c.db", linked_library(Path(tmp), lfw_all))
        result["full_lfw_scan"] = {**run, "images": len(lfw_all), "images_per_second": len(lfw_all) / run["seconds"]}
        console.print(f"photoface scan, all LFW: {result['full_lfw_scan']['images_per_second']:.1f} images/s")
    table = cli_markdown(cli) + "\n" + markdown(result)
    (RESULTS / "compare.md").write_text(table)
    chart(result, args.chart)
    console.print(table)
    console.print(f"wrote {write_result('compare', result)}, {RESULTS / 'compare.md'}, {args.chart}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
