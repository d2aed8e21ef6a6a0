"""Devices and onnxruntime's provider names, known without loading onnxruntime.

``status`` says which provider a scan would use; loading onnxruntime to ask would cost every
such command 0.4 s and start the runtime (see ``photoface.offline``), so this module answers
from the installed package's files instead. ``photoface.engine.session`` asks the runtime
itself when a model is really loaded.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"

# onnxruntime-gpu ships its CUDA provider as this library beside the runtime; the CPU-only
# package has none. onnxruntime lists CUDA as available exactly when the library is there.
_CUDA_LIBRARY = "libonnxruntime_providers_cuda.so"


def cuda_installed() -> bool:
    """Whether the installed onnxruntime carries the CUDA provider (not whether a GPU works)."""
    spec = importlib.util.find_spec("onnxruntime")
    if spec is None or spec.origin is None:
        return False
    return (Path(spec.origin).parent / "capi" / _CUDA_LIBRARY).is_file()
