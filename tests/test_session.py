"""Provider choice, tested without a GPU by patching what onnxruntime reports."""

import onnxruntime as ort
import pytest

from photoface.engine import session
from photoface.engine.models import model_path
from photoface.errors import DeviceError, ModelError

CPU_ONLY = ["CPUExecutionProvider"]
WITH_CUDA = ["CUDAExecutionProvider", "CPUExecutionProvider"]


@pytest.mark.parametrize(
    ("available", "device", "expected"),
    [
        (CPU_ONLY, "auto", CPU_ONLY),
        (CPU_ONLY, "cpu", CPU_ONLY),
        (WITH_CUDA, "auto", WITH_CUDA),
        (WITH_CUDA, "cuda", WITH_CUDA),
        (WITH_CUDA, "cpu", CPU_ONLY),
    ],
)
def test_choose_providers(monkeypatch, available, device, expected):
    monkeypatch.setattr(ort, "get_available_providers", lambda: available)
    assert session.choose_providers(device) == expected


def test_cuda_without_provider_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(ort, "get_available_providers", lambda: CPU_ONLY)
    with pytest.raises(DeviceError, match=r"onnxruntime-gpu.*--device cpu"):
        session.choose_providers("cuda")


def test_unknown_device():
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        session.choose_providers("tpu")


def test_cpu_session_runs_without_spinning():
    created = session.create_session(model_path("pnet"), "cpu", threads=1)
    assert session.active_provider(created) == "cpu"


def test_missing_and_damaged_model_files(tmp_path):
    with pytest.raises(ModelError, match="missing"):
        session.create_session(tmp_path / "nope.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot be loaded"):
        session.create_session(broken)
