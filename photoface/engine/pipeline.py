"""FaceEngine: load -> detect -> align -> embed, composed from the model classes."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
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
from photoface.engine.signature import signature
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
    # The grey cells around the face (photoface.engine.signature): which shot it is, for copies.
    signature: bytes | None = field(default=None, repr=False)

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
        precision: config.Precision = "fp32",
        threads: int = config.THREADS,
        models: Path | None = None,
    ) -> None:
        if align not in ALIGN_MODES:
            raise ValueError(f"align={align!r}: use one of {', '.join(ALIGN_MODES)}")
        if precision not in FaceEmbedder.files:
            raise ValueError(f"precision={precision!r}: use one of {', '.join(FaceEmbedder.files)}")
        MTCNN.check_settings(min_face, factor)
        self._providers = choose_providers(device)  # a bad device fails here, not at the first photo
        # Parallel across images, not inside each network: ``threads`` workers each run whole
        # images (and chunks of the face batch) on single-threaded sessions. The Python glue
        # between network calls (pyramid, crops, NMS, alignment) then overlaps with inference
        # instead of leaving a core idle: 62-65 vs 50-52 images/s on 2 cores (docs/how-it-works.md).
        self.threads = max(1, threads)
        self._settings = {"device": device, "threads": 1, "models": models}
        self._detector_settings = {"min_face": min_face, "factor": factor}
        self.align, self.flip, self.max_side = align, flip, max_side
        # int8 QDQ graphs are a CPU optimisation; the CUDA provider runs the fp32 model.
        self.precision = "fp32" if self._providers[0] == CUDA else precision
        self.model_id = model_id(FaceEmbedder.files[self.precision], models)

    @classmethod
    def from_profile(cls, profile: str = config.DEFAULT_PROFILE, device: str = "auto", **overrides) -> FaceEngine:
        """An engine with a named profile's settings (``config.PROFILES``); ``overrides`` win."""
        if profile not in config.PROFILES:
            raise ValueError(f"profile={profile!r}: use one of {', '.join(config.PROFILES)}")
        settings = dataclasses.asdict(config.PROFILES[profile])
        return cls(device, **(settings | {k: v for k, v in overrides.items() if v is not None}))

    # The sessions are made on first use: a rescan with nothing new never loads a model.
    @cached_property
    def detector(self) -> MTCNN:
        return MTCNN.load(**self._settings, **self._detector_settings)

    @cached_property
    def embedder(self) -> FaceEmbedder:
        return FaceEmbedder.load(**self._settings, name=FaceEmbedder.files[self.precision])

    @cached_property
    def _pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(self.threads, thread_name_prefix="engine")

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
        detected = list(self._map(self._detect_and_align, [image for image, _ in images]))
        crops = [crop for _, image_crops, _ in detected for crop in image_crops]
        signatures = iter([s for *_, image_signatures in detected for s in image_signatures])
        detections = [found for found, *_ in detected]
        chunk = max(1, -(-len(crops) // self.threads))
        chunks = [crops[i : i + chunk] for i in range(0, len(crops), chunk)]
        vectors = iter([v for part in self._map(self._embed_crops, chunks) for v in part])
        crop_iter = iter(crops)
        faces = []
        for (image, keep), found in zip(images, detections, strict=True):
            faces.append(
                [
                    _face(image, found, i, next(vectors), next(crop_iter) if keep else None, look=next(signatures))
                    for i in range(len(found))
                ]
            )
        return faces

    def _detect_and_align(self, image: LoadedImage) -> tuple[Detections, list[Image.Image], list[bytes]]:
        found = self.detect(image)
        pairs = list(zip(found.boxes, found.landmarks, strict=True))
        crops = [face_crop(image.image, box, points, self.align) for box, points in pairs]
        return found, crops, [signature(image.image, points) for _, points in pairs]

    def _embed_crops(self, crops: list[Image.Image]) -> np.ndarray:
        return self.embedder.embed(crops, flip=self.flip)

    def _map(self, function, items: list) -> Iterator:
        """``map`` over the engine's workers; in the caller's thread when there is one item."""
        if self.threads == 1 or len(items) < 2:
            return map(function, items)
        _ = self.detector, self.embedder  # load the sessions here, once, not racing in two workers
        return self._pool.map(function, items)


def _face(
    image: LoadedImage,
    found: Detections,
    index: int,
    embedding: np.ndarray,
    crop: Image.Image | None,
    *,
    look: bytes,
) -> Face:
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
        look,
    )
