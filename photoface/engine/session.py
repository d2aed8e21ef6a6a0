"""The only module that imports onnxruntime: providers, threads and session options.

Importing it starts the runtime; ``photoface.offline`` (imported with the package) has switched
its telemetry off by then.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import onnxruntime as ort

from photoface import config
from photoface.engine.devices import CPU, CUDA, DEVICES
from photoface.errors import DeviceError, ModelError

Device = Literal["auto", "cpu", "cuda"]

log = logging.getLogger(__name__)


def choose_providers(device: str) -> list[str]:
    """Providers for ``device``: "cuda" must have CUDA, "auto" prefers it, "cpu" never uses it."""
    if device not in DEVICES:
        raise DeviceError(f"unknown device {device!r}: use one of {', '.join(DEVICES)}")
    available = ort.get_available_providers()
    if device == "cpu":
        return [CPU]
    if CUDA in available:
        return [CUDA, CPU]
    if device == "cuda":
        raise DeviceError(
            f"device 'cuda' asked for, but this onnxruntime {ort.__version__} offers only "
            f"{', '.join(available)}: install onnxruntime-gpu with a working CUDA, or use --device cpu"
        )
    return [CPU]


def create_session(path: Path, device: str = "auto", threads: int = config.THREADS) -> ort.InferenceSession:
    """One inference session with deliberate threading.

    Several sessions (P/R/O-Net, FaceNet) take turns on few cores: onnxruntime's default
    busy-waiting threads then steal the cores from each other (2.8x slower end to end on
    2 cores), so spinning is switched off.
    """
    if not path.is_file():
        raise ModelError(f"model file {path} is missing: reinstall photoface or set PHOTOFACE_MODELS")
    providers = choose_providers(device)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    # The CPU arena keeps the largest buffers each input shape ever needed (P-Net sees a new
    # shape per pyramid level and photo size): without it a scan of 12 MP photos at the `best`
    # profile peaks at 1.3-1.5 GB instead of 1.8, at the same speed (measured, issue 11).
    options.enable_cpu_mem_arena = False
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own untyped errors for damaged files
        raise ModelError(f"model file {path} cannot be loaded ({exc}): reinstall photoface") from exc
    if device == "cuda" and CUDA not in session.get_providers():
        raise DeviceError(
            f"device 'cuda' asked for, but onnxruntime could not start CUDA for {path.name}: "
            "check the CUDA and cuDNN libraries, or use --device cpu"
        )
    log.info("%s: %s, %d threads", path.name, session.get_providers()[0], threads)
    return session


def active_provider(session: ort.InferenceSession) -> str:
    """ "cuda" or "cpu": what the session really runs on."""
    return "cuda" if session.get_providers()[0] == CUDA else "cpu"
