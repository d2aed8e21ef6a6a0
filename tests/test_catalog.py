"""The catalog on real SQLite: schema, migrations, settings, paths that round-trip."""

import os
import sqlite3

import numpy as np
import pytest

from photoface.catalog import SCHEMA_VERSION, Catalog, migrations, path_from_db, path_to_db
from photoface.errors import CatalogError


@pytest.fixture
def catalog(tmp_path):
    with Catalog.open(tmp_path / "catalog.db") as opened:
        yield opened


def test_new_catalog_is_migrated_wal_with_foreign_keys(catalog):
    assert catalog.schema_version == SCHEMA_VERSION == len(migrations._migrations)
    assert catalog.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert catalog.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert {"photos", "faces", "people", "scans"} <= set(catalog.db.table_names())


def test_reopening_applies_nothing_twice(tmp_path):
    Catalog.open(tmp_path / "c.db").close()
    with Catalog.open(tmp_path / "c.db") as again:
        assert again.schema_version == SCHEMA_VERSION


def test_catalog_from_a_newer_version_is_refused(tmp_path):
    Catalog.open(tmp_path / "c.db").close()
    conn = sqlite3.connect(tmp_path / "c.db")
    conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('photoface', 'm999', 'x')")
    conn.commit()
    conn.close()
    with pytest.raises(CatalogError, match="newer photoface"):
        Catalog.open(tmp_path / "c.db")


def test_not_a_database_is_a_clear_error(tmp_path):
    bogus = tmp_path / "notes.db"
    bogus.write_text("these are not the tables you are looking for" * 100)
    with pytest.raises(CatalogError, match="not a usable photoface catalog"):
        Catalog.open(bogus)


def test_missing_catalog_without_create(tmp_path):
    with pytest.raises(CatalogError, match="photoface scan"):
        Catalog.open(tmp_path / "none.db", create=False)


def test_non_utf8_paths_round_trip(catalog):
    odd = os.fsdecode(b"/photos/caf\xe9.jpg")  # Latin-1 bytes, not UTF-8
    assert isinstance(path_to_db(odd), bytes) and path_from_db(path_to_db(odd)) == odd
    assert path_to_db("/photos/Zoë.jpg") == "/photos/Zoë.jpg"
    with catalog.transaction():
        photo = catalog.save_photo(odd, size=1, mtime_ns=2, fields={"status": "ok", "hash": "h"})
    assert catalog.has_photo(odd)
    assert catalog.photos_under([os.path.dirname(odd)])[odd].id == photo


class _Face:
    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        vector = rng.normal(size=128).astype(np.float32)
        self.embedding = vector / np.linalg.norm(vector)
        self.box, self.score, self.size = (1.0, 2.0, 30.0, 40.0), 0.99, 30.0
        self.landmarks = np.zeros((5, 2), np.float32)


def _photo_with_named_face(catalog, path: str, seed: int, name: str) -> tuple[int, int, int]:
    """A photo with one face assigned by hand to a new person: (photo, face, person) ids."""
    photo = catalog.save_photo(path, size=1, mtime_ns=1, fields={"status": "ok", "hash": path})
    (face,) = catalog.replace_faces(photo, [_Face(seed)], "m")
    person = catalog.db["people"].insert({"name": name, "created_at": "now"}).last_pk
    catalog.db["faces"].update(face, {"person_id": person, "assigned": "manual"})
    return photo, face, person


def test_faces_cascade_with_their_photo_and_people_stay(catalog):
    with catalog.transaction():
        photo, _, person = _photo_with_named_face(catalog, "/p/a.jpg", 0, "Alice")
        catalog.remove_photos([photo])
    assert catalog.db["faces"].count == 0
    assert catalog.db["people"].get(person)["name"] == "Alice"


def test_reanalysed_photo_keeps_manual_names_on_the_same_face(catalog):
    with catalog.transaction():
        photo, _, _ = _photo_with_named_face(catalog, "/p/b.jpg", 1, "Bob")
        catalog.replace_faces(photo, [_Face(1), _Face(2)], "m")  # edited: same face plus a new one
    rows = {row["name"] for row in catalog.faces(photo="/p/b.jpg")}
    assert rows == {"Bob", None}


def test_a_write_after_a_read_waits_for_another_writer_instead_of_failing(tmp_path):
    """Two processes write one catalog (a scan and a naming in another terminal). A transaction
    that reads, then writes, must not fail because the other committed in between: begun deferred
    it gets "database is locked" at once (an outdated snapshot cannot be upgraded)."""
    path = tmp_path / "c.db"
    with Catalog.open(path) as mine, Catalog.open(path) as other:
        person = mine.create_person()
        with mine.transaction():
            assert mine.person(person)["name"] is None  # the read
            # The other process waits for our write lock; give it up quickly to see that it waits.
            other.db.conn.execute("PRAGMA busy_timeout = 50")
            with pytest.raises(sqlite3.OperationalError, match="locked"), other.transaction():
                other.update_person(person, {"name": "Theirs"})
            mine.update_person(person, {"name": "Mine"})
        with other.transaction():
            other.update_person(person, {"name": "Theirs"})
        with mine.transaction():
            assert mine.person(person)["name"] == "Theirs"
            mine.update_person(person, {"name": "Mine again"})
        assert other.person(person)["name"] == "Mine again"


def test_a_lock_held_too_long_is_a_busy_fault_with_advice(tmp_path):
    from photoface.catalog import describe_write_fault, is_write_fault

    exc = sqlite3.OperationalError("database is locked")
    assert is_write_fault(exc)
    assert describe_write_fault(tmp_path / "c.db", exc).endswith("let it finish, then run the same command again")
