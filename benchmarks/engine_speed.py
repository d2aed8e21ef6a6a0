"""Engine speed on this CPU: detection per image, embedding per face (batch 1 vs batched),
end to end images/s one photo at a time vs faces batched across photos, and where time goes.

    python -m benchmarks.engine_speed [--images 300]

Timings are medians of several passes after a warm-up; every session uses the engine's
default threads (2 on the target machine).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.common import peak_rss_mb, require_data, write_result
from photoface.engine import FaceEngine
from photoface.engine import pipeline as pipeline_module
from photoface.engine.facenet import FaceEmbedder
from photoface.engine.mtcnn import ONet, PNet, RNet


def median_seconds(action: Callable[[], object], passes: int) -> float:
    action()  # warm-up
    times = []
    for _ in range(passes):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


class StageClock:
    """Wraps engine functions to add up the seconds spent in each stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._restore: list[tuple[object, str, object]] = []

    def wrap(self, owner: object, attribute: str, stage: str) -> None:
        original = getattr(owner, attribute)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - started

        setattr(owner, attribute, timed)
        self._restore.append((owner, attribute, original))

    def restore(self) -> None:
        for owner, attribute, original in reversed(self._restore):
            setattr(owner, attribute, original)


def measure(engine: FaceEngine, paths: list[Path], passes: int) -> dict:
    loaded = [engine.load(path) for path in paths]
    faces = sum(len(engine.detect(image)) for image in loaded)
    crops = [engine.analyze(image.image, crops=True)[0].crop for image in loaded[:64]]
    result: dict = {"images": len(paths), "faces": faces, "provider": engine.provider}
    detect_s = median_seconds(lambda: [engine.detect(image) for image in loaded], passes)
    result["detect_ms_per_image"] = 1000 * detect_s / len(loaded)
    result["embed_ms_per_face"] = {}
    for batch in (1, 16, 32):
        engine.embedder.batch_size = batch
        seconds = median_seconds(lambda: engine.embedder.embed(crops, flip=False), passes)
        result["embed_ms_per_face"][batch] = 1000 * seconds / len(crops)
    engine.embedder.batch_size = FaceEmbedder.batch_size
    result["images_per_second"] = {}
    for flip in (False, True):
        engine.flip = flip
        for mode, run in (
            ("one_by_one", lambda: [engine.analyze(p) for p in paths]),
            ("batched", lambda: list(engine.analyze_many(paths, batch_images=16))),
        ):
            result["images_per_second"][f"{mode}_flip_{flip}"] = len(paths) / median_seconds(run, passes)
    result["time_split"] = time_split(engine, paths)
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def time_split(engine: FaceEngine, paths: list[Path]) -> dict[str, float]:
    """Share of a batched, flip-averaged run spent in each stage."""
    clock = StageClock()
    clock.wrap(engine, "load", "decode")
    clock.wrap(PNet, "propose", "detect: P-Net (pyramid resize + net + NMS)")
    clock.wrap(RNet, "score", "detect: R-Net (crops + net)")
    clock.wrap(ONet, "score", "detect: O-Net (crops + net)")
    clock.wrap(pipeline_module, "face_crop", "align")
    clock.wrap(FaceEmbedder, "embed", "embed (FaceNet, flip averaged)")
    engine.flip = True
    started = time.perf_counter()
    list(engine.analyze_many(paths, batch_images=16))
    total = time.perf_counter() - started
    clock.restore()
    stages = {stage: seconds / total for stage, seconds in clock.seconds.items()}
    stages["other (Python glue, NMS between stages)"] = 1 - sum(stages.values())
    return stages


def print_table(console: Console, result: dict) -> None:
    table = Table(
        title=f"engine speed: {result['images']} LFW images (250x250), {result['faces']} faces, {result['provider']}"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("detect, per image", f"{result['detect_ms_per_image']:.1f} ms")
    for batch, ms in result["embed_ms_per_face"].items():
        table.add_row(f"embed, per face, batch {batch} (no flip)", f"{ms:.2f} ms")
    for name, value in result["images_per_second"].items():
        table.add_row(f"end to end, {name.replace('_', ' ')}", f"{value:.1f} images/s")
    for stage, share in sorted(result["time_split"].items(), key=lambda item: -item[1]):
        table.add_row(f"share of batched run: {stage}", f"{100 * share:.0f}%")
    table.add_row("peak RSS", f"{result['peak_rss_mb']:.0f} MB")
    console.print(table)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    console = Console()
    images_dir = require_data("lfw", "images")
    paths = sorted(images_dir.glob("*/*.jpg"))[:: max(1, 13233 // args.images)][: args.images]
    result = measure(FaceEngine(device="cpu"), paths, args.passes)
    print_table(console, result)
    console.print(f"wrote {write_result('engine_speed', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
