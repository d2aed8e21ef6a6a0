"""The face engine: MTCNN detection, 5-point alignment and FaceNet embeddings on onnxruntime.

Names load on first use, so that ``photoface.engine.devices`` and ``photoface.engine.models``
can be imported without onnxruntime.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "MTCNN": "photoface.engine.mtcnn",
    "Detections": "photoface.engine.mtcnn",
    "Analysis": "photoface.engine.pipeline",
    "BoxedFace": "photoface.engine.boxed",
    "Face": "photoface.engine.pipeline",
    "FaceEngine": "photoface.engine.pipeline",
    "FaceEmbedder": "photoface.engine.facenet",
    "align_face": "photoface.engine.align",
    "face_in_box": "photoface.engine.boxed",
    "similarity_transform": "photoface.engine.align",
}


def __getattr__(name: str) -> object:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'photoface.engine' has no attribute {name!r}")


__all__ = [
    "MTCNN",
    "Analysis",
    "BoxedFace",
    "Detections",
    "Face",
    "FaceEmbedder",
    "FaceEngine",
    "align_face",
    "face_in_box",
    "similarity_transform",
]
