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


def test_int8_and_fp32_embeddings_agree_on_real_faces(fivecelebs):
    from photoface import FaceEngine

    fp32 = FaceEngine(device="cpu", flip=False)
    int8 = FaceEngine(device="cpu", flip=False, precision="int8")
    crops = [_largest(fp32.analyze(photo, crops=True)).crop for photo in sorted(fivecelebs.glob("val/*/*.jpg"))]
    cosine = np.sum(fp32.embedder.embed(crops, flip=False) * int8.embedder.embed(crops, flip=False), axis=1)
    assert len(crops) == 25
    assert cosine.min() > 0.99, cosine.min()
    assert int8.model_id.startswith("facenet-int8-") and fp32.model_id.startswith("facenet-")


# What the profile table in docs/how-it-works.md claims on the 9 hand-boxed group photos (43 faces).
CLAIMED_GROUP_FACES = {"fast": 42, "balanced": 42, "best": 43}


@pytest.mark.parametrize("profile", sorted(CLAIMED_GROUP_FACES))
def test_each_profile_finds_the_group_faces_it_claims(profile, groups):
    from photoface import FaceEngine, config

    assert set(CLAIMED_GROUP_FACES) == set(config.PROFILES)
    engine = FaceEngine.from_profile(profile, "cpu")
    truth = read_face_boxes(groups)
    matched = sum(match_boxes(boxes, corner_boxes(engine.analyze(photo))) for photo, boxes in truth.items())
    assert matched >= CLAIMED_GROUP_FACES[profile]


def test_cuda_runs_the_fp32_model(monkeypatch):
    from photoface import FaceEngine
    from photoface.engine import pipeline
    from photoface.engine.session import CPU, CUDA

    monkeypatch.setattr(pipeline, "choose_providers", lambda device: [CUDA, CPU])
    engine = FaceEngine.from_profile("fast", "cuda")
    assert engine.precision == "fp32" and not engine.model_id.startswith("facenet-int8")


def test_unknown_profile_and_precision_are_refused():
    from photoface import FaceEngine

    with pytest.raises(ValueError, match="profile='quick'"):
        FaceEngine.from_profile("quick", "cpu")
    with pytest.raises(ValueError, match="precision='fp16'"):
        FaceEngine(device="cpu", precision="fp16")
