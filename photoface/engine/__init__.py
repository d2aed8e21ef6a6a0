"""The face engine: MTCNN detection, 5-point alignment and FaceNet embeddings on onnxruntime."""

from photoface.engine.align import align_face, similarity_transform
from photoface.engine.facenet import FaceEmbedder
from photoface.engine.mtcnn import MTCNN, Detections
from photoface.engine.pipeline import Analysis, Face, FaceEngine

__all__ = [
    "MTCNN",
    "Analysis",
    "Detections",
    "Face",
    "FaceEmbedder",
    "FaceEngine",
    "align_face",
    "similarity_transform",
]
