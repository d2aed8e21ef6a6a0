"""The shipped models match their manifest, and the manifest says where they came from."""

import pytest

from photoface.engine import models
from photoface.errors import ModelError


def test_every_model_matches_its_sha256():
    assert models.verify() == {"pnet": True, "rnet": True, "onet": True, "facenet": True, "facenet-int8": True}


def test_manifest_records_the_source_of_each_model():
    entries = models.manifest(models.models_dir())["models"]
    for entry in entries.values():
        source = entry["source"]
        assert source["package"] and source["version"] and source["path"]
        assert len(source["sha256"]) == 64 and entry["licence"]


def test_model_id_names_the_exact_weights():
    digest = models.manifest(models.models_dir())["models"]["facenet"]["sha256"]
    assert models.model_id("facenet") == f"facenet-{digest[:12]}"


def test_models_env_override_must_hold_a_manifest(monkeypatch, tmp_path):
    monkeypatch.setenv("PHOTOFACE_MODELS", str(tmp_path))
    with pytest.raises(ModelError, match="PHOTOFACE_MODELS"):
        models.models_dir()
