"""The real models on real photos: faces found, people told apart, frames mapped back."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.datasets import corner_boxes, match_boxes, read_face_boxes
from photoface.engine.boxes import iou
from tests.conftest import data_path


def _largest(faces):
    return max(faces, key=lambda face: face.box[2] * face.box[3])


@pytest.fixture(scope="module")
def fivecelebs_faces(engine, fivecelebs):
    photos = sorted(fivecelebs.glob("*/*/*.jpg"))
    return {Path(a.source): a.faces for a in engine.analyze_many(photos)}


def test_every_fivecelebs_photo_gives_a_face(fivecelebs_faces):
    assert len(fivecelebs_faces) == 118
    assert [path.name for path, faces in fivecelebs_faces.items() if not faces] == []


def test_embeddings_are_unit_float32(fivecelebs_faces):
    vectors = np.stack([f.embedding for faces in fivecelebs_faces.values() for f in faces])
    assert vectors.dtype == np.float32 and vectors.shape[1] == 128
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_nearest_training_face_names_every_validation_photo(fivecelebs_faces):
    def split(name):
        items = [(p.parent.name, _largest(f).embedding) for p, f in fivecelebs_faces.items() if p.parts[-3] == name]
        return [label for label, _ in items], np.stack([vector for _, vector in items])

    train_labels, train = split("train")
    val_labels, val = split("val")
    nearest = np.argmax(val @ train.T, axis=1)
    predicted = [train_labels[i] for i in nearest]
    assert len(val_labels) == 25
    assert predicted == val_labels


def test_group_photos_recall_and_precision(engine, groups):
    truth = read_face_boxes(groups)
    true_total = sum(len(b) for b in truth.values())
    found_total = matched = 0
    for photo, boxes in truth.items():
        found = corner_boxes(engine.analyze(photo))
        found_total += len(found)
        matched += match_boxes(boxes, found, min_iou=0.4)
    assert true_total == 43
    assert matched / true_total >= 0.95, f"recall {matched}/{true_total}"
    assert matched / found_total >= 0.90, f"precision {matched}/{found_total}"


def test_no_face_in_photos_without_people(engine):
    for photo in sorted(data_path("nofaces").glob("*.jpg")):
        assert engine.analyze(photo) == [], photo.name


def test_boxes_are_in_the_full_resolution_upright_frame(engine, lfw_images, tmp_path):
    photo = lfw_images / "Colin_Powell" / "Colin_Powell_0001.jpg"
    original = _largest(engine.analyze(photo))
    # Three times larger on disk, stored sideways with an EXIF tag saying "rotate 90 clockwise".
    big = Image.open(photo).resize((750, 750), Image.Resampling.LANCZOS)
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways = tmp_path / "sideways.jpg"
    big.transpose(Image.Transpose.ROTATE_90).save(sideways, exif=exif, quality=95)
    found = _largest(engine.analyze(sideways))
    assert iou(corner_boxes([found]), corner_boxes([original]) * 3)[0, 0] > 0.8
    np.testing.assert_allclose(found.landmarks, original.landmarks * 3, atol=9)
    assert float(found.embedding @ original.embedding) > 0.9


def test_reduced_detection_maps_boxes_back(engine, groups, tmp_path):
    photo = groups / "2008_001322.jpg"
    direct = corner_boxes(engine.analyze(photo))
    big = tmp_path / "big.jpg"
    with Image.open(photo) as image:
        image.resize((image.width * 8, image.height * 8), Image.Resampling.BICUBIC).save(big, quality=92)
    mapped = corner_boxes(engine.analyze(big)) / 8  # 4000 px wide: decoded reduced, detected at <= 1600
    assert len(mapped) == len(direct)
    assert np.all(iou(direct, mapped).max(axis=1) > 0.7)


def test_crops_on_request(engine, groups):
    faces = engine.analyze(groups / "2008_001322.jpg", crops=True)
    assert faces and all(face.crop.size == (160, 160) for face in faces)
    assert engine.analyze(groups / "2008_001322.jpg")[0].crop is None
