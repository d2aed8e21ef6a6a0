"""FaceEngine: load -> detect -> align -> embed, composed from the model classes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image

from photoface import config
from photoface.engine.align import ALIGN_MODES, AlignMode, face_crop
from photoface.engine.facenet import FaceEmbedder
from photoface.engine.models import model_id
from photoface.engine.mtcnn import MTCNN, Detections
from photoface.engine.session import CUDA, choose_providers
from photoface.errors import ImageLoadError
from photoface.imageio import LoadedImage, load_image

Source = str | Path | Image.Image


@dataclass(frozen=True)
class Face:
    """One face, in pixels of the full-resolution, orientation-corrected photo."""

    box: tuple[float, float, float, float]  # x, y, width, height
    score: float
    landmarks: np.ndarray  # (5, 2): left eye, right eye, nose, mouth left, mouth right
    embedding: np.ndarray  # (128,) float32, unit length
    crop: Image.Image | None = field(default=None, repr=False)  # the aligned 160x160 input

    @property
    def size(self) -> float:
        """The shorter side of the box: how much detail the embedding had to work with."""
        return min(self.box[2], self.box[3])


@dataclass(frozen=True)
class Analysis:
    """What ``FaceEngine.analyze_many`` yields for each source: faces, or the load error."""

    source: Source
    faces: list[Face]
    error: ImageLoadError | None = None
    image: LoadedImage | None = field(default=None, repr=False)


class FaceEngine:
    """Find every face in a photo and embed it.

    >>> engine = FaceEngine(device="auto")
    >>> faces = engine.analyze("family.jpg")
    >>> faces[0].box, faces[0].embedding.shape
    """

    def __init__(
        self,
        device: str = "auto",
        *,
        min_face: int = config.MIN_FACE,
        factor: float = config.PYRAMID_FACTOR,
        align: AlignMode = "similarity",
        flip: bool = True,
        max_side: int | None = config.MAX_DETECTION_SIDE,
        threads: int = config.THREADS,
        models: Path | None = None,
    ) -> None:
        if align not in ALIGN_MODES:
            raise ValueError(f"align={align!r}: use one of {', '.join(ALIGN_MODES)}")
        MTCNN.check_settings(min_face, factor)
        self._providers = choose_providers(device)  # a bad device fails here, not at the first photo
        self._settings = {"device": device, "threads": threads, "models": models}
        self._detector_settings = {"min_face": min_face, "factor": factor}
        self.align, self.flip, self.max_side = align, flip, max_side
        self.model_id = model_id(FaceEmbedder.name, models)

    # The sessions are made on first use: a rescan with nothing new never loads a model.
    @cached_property
    def detector(self) -> MTCNN:
        return MTCNN.load(**self._settings, **self._detector_settings)

    @cached_property
    def embedder(self) -> FaceEmbedder:
        return FaceEmbedder.load(**self._settings)

    @property
    def provider(self) -> str:
        """Where the models run, "cpu" or "cuda" (where they really run, once loaded)."""
        if "embedder" in self.__dict__:
            return self.embedder.provider
        return "cuda" if self._providers[0] == CUDA else "cpu"

    def load(self, source: Source) -> LoadedImage:
        return load_image(source, self.max_side)

    def detect(self, image: LoadedImage) -> Detections:
        """Faces in the loaded image's own (possibly reduced) pixel frame."""
        return self.detector.detect(image.image)

    def analyze(self, source: Source, crops: bool = False) -> list[Face]:
        """Every face in one photo, best detection first. Raises ``ImageLoadError``."""
        return self._embed([(self.load(source), crops)])[0]

    def analyze_images(self, images: list[LoadedImage]) -> list[list[Face]]:
        """The faces of already loaded images, embedded in one batch."""
        return self._embed([(image, False) for image in images])

    def analyze_many(
        self, sources: Iterable[Source], batch_images: int = 16, crops: bool = False
    ) -> Iterator[Analysis]:
        """Analyze many photos, embedding the faces of ``batch_images`` photos in one batch.

        Unreadable files do not stop the run: their ``Analysis`` carries the error.
        """
        pending: list[tuple[Source, LoadedImage]] = []
        for source in sources:
            try:
                pending.append((source, self.load(source)))
            except ImageLoadError as error:
                yield Analysis(source, [], error)
            if len(pending) >= batch_images:
                yield from self._flush(pending, crops)
                pending = []
        yield from self._flush(pending, crops)

    def _flush(self, pending: list[tuple[Source, LoadedImage]], crops: bool) -> Iterator[Analysis]:
        faces = self._embed([(image, crops) for _, image in pending])
        for (source, image), found in zip(pending, faces, strict=True):
            yield Analysis(source, found, image=image)

    def _embed(self, images: list[tuple[LoadedImage, bool]]) -> list[list[Face]]:
        detections = [self.detect(image) for image, _ in images]
        crops = [
            face_crop(image.image, box, points, self.align)
            for (image, _), found in zip(images, detections, strict=True)
            for box, points in zip(found.boxes, found.landmarks, strict=True)
        ]
        vectors = iter(self.embedder.embed(crops, flip=self.flip))
        crop_iter = iter(crops)
        faces = []
        for (image, keep), found in zip(images, detections, strict=True):
            faces.append(
                [_face(image, found, i, next(vectors), next(crop_iter) if keep else None) for i in range(len(found))]
            )
        return faces


def _face(image: LoadedImage, found: Detections, index: int, embedding: np.ndarray, crop: Image.Image | None) -> Face:
    """Detection ``index`` mapped from the loaded image to the full-resolution frame, box clipped to it."""
    scale = image.scale
    width, height = image.full_size
    x1, y1, x2, y2 = np.clip(found.boxes[index] * scale, 0, [width, height, width, height])
    return Face(
        (float(x1), float(y1), float(x2 - x1), float(y2 - y1)),
        float(found.scores[index]),
        (found.landmarks[index] * scale).astype(np.float32),
        embedding,
        crop,
    )
