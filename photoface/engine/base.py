"""One small base class for every ONNX model: a ready session and its input/output names."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from photoface import config
from photoface.engine.models import model_path
from photoface.engine.session import active_provider, create_session

if TYPE_CHECKING:
    import onnxruntime as ort


class OnnxModel:
    """Wraps a session; subclasses add preprocessing and postprocessing around ``run``."""

    name: str  # the model's key in models/manifest.json

    def __init__(self, session: ort.InferenceSession) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.output_names = [output.name for output in session.get_outputs()]

    @classmethod
    def load(
        cls, device: str = "auto", threads: int = config.THREADS, models: Path | None = None, name: str | None = None
    ):
        """``name``: another manifest entry with the same inputs and outputs (an int8 copy, say)."""
        return cls(create_session(model_path(name or cls.name, models), device, threads))

    @property
    def provider(self) -> str:
        return active_provider(self.session)

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        return self.session.run(self.output_names, {self.input_name: batch})

    def run_in_chunks(self, batch: np.ndarray, size: int) -> list[np.ndarray]:
        """``run`` on at most ``size`` inputs at a time, outputs joined: a net's activations grow
        with the batch (R-Net on 5,000 candidates of a 12 MP photo would need 300 MB at once)."""
        if len(batch) <= size:
            return self.run(batch)
        parts = [self.run(batch[start : start + size]) for start in range(0, len(batch), size)]
        return [np.concatenate(outputs) for outputs in zip(*parts, strict=True)]
