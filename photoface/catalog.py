"""The catalog: one SQLite file with the photos, their faces, the people and the user's decisions.

It is the user's work (their names), so: every change is a transaction, the journal is WAL
(a killed process never corrupts it), foreign keys are on, and the schema only changes
through the registered migrations below.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

import numpy as np
import platformdirs
import sqlite_utils
from sqlite_utils.migrations import Migrations

from photoface.engine import signature
from photoface.errors import CatalogError, PhotofaceError

log = logging.getLogger(__name__)

DB_ENV = "PHOTOFACE_DB"
APP_NAME = "photoface"

migrations = Migrations("photoface")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    # `path` has no type affinity: UTF-8 paths are stored as TEXT, the rare non-UTF-8 ones as
    # their raw bytes (BLOB), so every file the OS can name round-trips exactly.
    db.execute("""
        CREATE TABLE photos (
            id INTEGER PRIMARY KEY,
            path UNIQUE NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            hash TEXT,
            width INTEGER,
            height INTEGER,
            orientation INTEGER,
            taken_at TEXT,
            status TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'duplicate')),
            error TEXT,
            duplicate_of INTEGER REFERENCES photos(id) ON DELETE SET NULL,
            scanned_at TEXT NOT NULL
        )""")
    db.execute("""
        CREATE TABLE people (
            id INTEGER PRIMARY KEY,
            name TEXT UNIQUE,
            hidden INTEGER NOT NULL DEFAULT 0,
            ignored INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        )""")
    db.execute("""
        CREATE TABLE faces (
            id INTEGER PRIMARY KEY,
            photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
            x REAL NOT NULL, y REAL NOT NULL, w REAL NOT NULL, h REAL NOT NULL,
            score REAL NOT NULL,
            size REAL NOT NULL,
            landmarks BLOB NOT NULL,
            embedding BLOB NOT NULL,
            model TEXT NOT NULL,
            person_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
            assigned TEXT CHECK (assigned IN ('auto', 'manual'))
        )""")
    db.execute("""
        CREATE TABLE scans (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            roots TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'interrupted', 'failed')),
            new INTEGER NOT NULL DEFAULT 0, changed INTEGER NOT NULL DEFAULT 0,
            unchanged INTEGER NOT NULL DEFAULT 0, moved INTEGER NOT NULL DEFAULT 0,
            removed INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
            duplicates INTEGER NOT NULL DEFAULT 0, faces INTEGER NOT NULL DEFAULT 0,
            provider TEXT, model TEXT
        )""")
    db["photos"].create_index(["hash"])
    db["photos"].create_index(["status"])
    db["faces"].create_index(["photo_id"])
    db["faces"].create_index(["person_id"])


@migrations()
def m002_scan_process(db: sqlite_utils.Database) -> None:
    # Which process runs a scan, and why one stopped early (disk full, SIGTERM, ...).
    db.execute("ALTER TABLE scans ADD COLUMN pid INTEGER")
    db.execute("ALTER TABLE scans ADD COLUMN stop_reason TEXT")


@migrations()
def m003_people_at_scale(db: sqlite_utils.Database) -> None:
    # The catalog's identity, so a face index file is never used with another catalog.
    db.execute("CREATE TABLE catalog_info (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO catalog_info VALUES ('uid', lower(hex(randomblob(16))))")
    db.execute("INSERT INTO catalog_info VALUES ('face_log_pruned_through', '0')")
    # Every face added, removed or re-embedded, in order: the face index applies what changed
    # since it was saved instead of being rebuilt (photoface/index.py).
    db.execute("""
        CREATE TABLE face_log (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            face_id INTEGER NOT NULL,
            added INTEGER NOT NULL
        )""")
    db.execute(
        "CREATE TRIGGER face_added AFTER INSERT ON faces BEGIN "
        "INSERT INTO face_log (face_id, added) VALUES (new.id, 1); END"
    )
    db.execute(
        "CREATE TRIGGER face_removed AFTER DELETE ON faces BEGIN "
        "INSERT INTO face_log (face_id, added) VALUES (old.id, 0); END"
    )
    db.execute(
        "CREATE TRIGGER face_reembedded AFTER UPDATE OF embedding ON faces BEGIN "
        "INSERT INTO face_log (face_id, added) VALUES (new.id, 1); END"
    )
    # Faces the last `cluster` has seen; new ones (0) are what an incremental run looks at.
    db.execute("ALTER TABLE faces ADD COLUMN clustered INTEGER NOT NULL DEFAULT 0")
    db["faces"].create_index(["clustered"])
    # "Not this person": a face taken from a person is never given back to them automatically.
    db.execute("""
        CREATE TABLE rejections (
            face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
            person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            PRIMARY KEY (face_id, person_id)
        )""")
    db["rejections"].create_index(["person_id"])


@migrations()
def m004_near_copies(db: sqlite_utils.Database) -> None:
    # Derived, like the face index: the face this one is a near-copy of (the oldest face of its
    # group, photoface/copies.py), written by `cluster`. No foreign key: deleting a face would
    # then search this column for every face removed; readers join it to faces instead, so an
    # original that is gone reads as none.
    db.execute("ALTER TABLE faces ADD COLUMN copy_of INTEGER")
    # status counts near-duplicate photos from the few copies, not by reading every face.
    db.execute("CREATE INDEX faces_copy_of ON faces(copy_of) WHERE copy_of IS NOT NULL")


@migrations()
def m005_face_origin(db: sqlite_utils.Database) -> None:
    # Where a face came from when not from the scan's detector (NULL): "region", found by
    # looking again inside an XMP face region; "region box", made from the region's box
    # where no face could be found (photoface/engine/boxed.py).
    db.execute("ALTER TABLE faces ADD COLUMN origin TEXT")


@migrations()
def m006_birth_date(db: sqlite_utils.Database) -> None:
    # A person's birth date ("YYYY-MM-DD", NULL: unknown): nobody is given a face automatically
    # in a photo taken before it (photoface/clustering.py), and serve shows ages.
    db.execute("ALTER TABLE people ADD COLUMN born TEXT")


# faces.clustered: what the last `cluster` knows of a face. NEW: not seen yet (a scan added it);
# CLUSTERED: placed; DECIDED: placed, then the user decided on it (confirmed, moved, rejected).
NEW, CLUSTERED, DECIDED = 0, 1, 2


@migrations()
def m007_videos(db: sqlite_utils.Database) -> None:
    # A video is one row of photos (kind 'video', its duration in seconds, width and height upright)
    # and each face track in it one row of faces: the seconds it is seen from and to, and the time
    # of the frame its box is from. A Live Photo's clip is part of its photo, not a video of its own.
    db.execute("ALTER TABLE photos ADD COLUMN kind TEXT NOT NULL DEFAULT 'photo'")
    db.execute("ALTER TABLE photos ADD COLUMN duration REAL")
    db.execute("ALTER TABLE photos ADD COLUMN live_clip")  # stored like path (text, or raw bytes)
    db.execute("ALTER TABLE faces ADD COLUMN track_start REAL")
    db.execute("ALTER TABLE faces ADD COLUMN track_end REAL")
    db.execute("ALTER TABLE faces ADD COLUMN frame_time REAL")


@migrations()
def m008_face_signatures(db: sqlite_utils.Database) -> None:
    # The grey cells around each face (photoface.engine.signature, 256 bytes): which shot a face is
    # from, so a resized or cropped copy of a small face is still found to be a copy. NULL for
    # faces scanned before; ``scan`` fills them in from the photo and the stored landmarks.
    db.execute("ALTER TABLE faces ADD COLUMN signature BLOB")
    # Every scan asks which faces still lack one: without this, a read of the whole faces table.
    db.execute("CREATE INDEX faces_unsigned ON faces(photo_id) WHERE signature IS NULL")


@migrations()
def m009_confirmed_faces(db: sqlite_utils.Database) -> None:
    # 1 where the user said of this face that it is its person (confirm, a review's yes, move, a
    # face drawn and named): rejecting it for that person is then a contradiction, refused. Naming
    # or merging a cluster places its faces by hand (assigned 'manual') without confirming each.
    db.execute("ALTER TABLE faces ADD COLUMN confirmed INTEGER NOT NULL DEFAULT 0")


SCHEMA_VERSION = 9  # the number of registered migrations

# How face lists can be ordered (a fixed set: the ORDER BY text is never built from a request).
FACE_ORDERS = {
    "faces.id": "faces.id",
    "clearest": "faces.score * faces.size DESC, faces.id",
    "largest": "faces.size DESC, faces.id",
}
# Which people a list shows; people named and reviewed come after those still to look at.
PEOPLE_FILTERS = {
    "all": "NOT people.hidden AND NOT people.ignored",
    "unnamed": "people.name IS NULL AND NOT people.hidden AND NOT people.ignored",
    "named": "people.name IS NOT NULL AND NOT people.hidden AND NOT people.ignored",
    "ignored": "people.hidden OR people.ignored",
}
# How a list of people can be sorted (a fixed set, as FACE_ORDERS): still to do first (unnamed,
# then those with faces nobody confirmed), the most faces first, or by name.
PEOPLE_ORDERS = {
    "todo": "people.name IS NOT NULL, auto = 0, faces DESC, people.id",
    "largest": "faces DESC, people.id",
    "name": "people.name IS NULL, people.name COLLATE NOCASE, faces DESC, people.id",
}


def default_path() -> Path:
    """``PHOTOFACE_DB``, else ``catalog.db`` in the user's data directory."""
    override = os.environ.get(DB_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME)) / "catalog.db"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def path_to_db(path: str | Path) -> str | bytes:
    """The stored form of a path: text where it is valid UTF-8, else its raw bytes."""
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(text)
    return text


def path_from_db(value: str | bytes) -> str:
    return os.fsdecode(value) if isinstance(value, bytes) else value


def is_under(path: str, root: str | Path) -> bool:
    """``path`` is ``root`` itself or inside it."""
    root = os.fspath(root)
    return path == root or path.startswith(os.path.join(root, ""))


def printable(path: str | Path) -> str:
    """A path safe to print: undecodable bytes shown as \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class PhotoRecord:
    """What the catalog knows about one file, enough to decide whether to look at it again."""

    id: int
    path: str
    size: int
    mtime_ns: int
    hash: str | None
    status: str
    live_clip: str | None = None  # the Live Photo clip last recorded beside it


@dataclass(frozen=True)
class ClusterInput:
    """What clustering reads: the faces as arrays (``photoface.clustering.Faces`` fields), which
    of them the last clustering has not seen, and the user's decisions about people."""

    arrays: dict[str, np.ndarray]
    new: np.ndarray
    # (N,) faces the user decided on since the last clustering (``DECIDED``): the faces around
    # them are placed again, so an answer moves more than the face it was about.
    decided: np.ndarray
    named: frozenset[int]
    ignored: frozenset[int]
    rejections: frozenset[tuple[int, int]]  # (face id, person id): "not this person"
    copy_of: np.ndarray  # (N,) the face id each face was last found a near-copy of, -1 for none
    born: dict[int, float] = field(default_factory=dict)  # person id -> birth date as a Julian day
    # (N,) faces of still photos, where the faces beside one are other people; a video's tracks
    # share its photo id, and one person can leave the frame and come back (None: all stills).
    stills: np.ndarray | None = None


class FaceLike(Protocol):
    """What the catalog stores of a face (``photoface.engine.Face`` is one)."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray
    embedding: np.ndarray

    @property
    def size(self) -> float: ...


class TrackLike(Protocol):
    """A face followed through a video (``photoface.media.tracks.Track`` is one): the face of its
    best frame, and the seconds it is seen from and to and that frame's time."""

    face: FaceLike
    start: float
    end: float
    frame: float


class Catalog:
    """The catalog over one SQLite file; open with ``Catalog.open(path)``."""

    read_only = False  # opened from a read-only drive, share or folder: reads only
    _backup_checked = False  # whether this connection's first write looked for a due backup

    def __init__(self, db: sqlite_utils.Database, path: Path) -> None:
        self.db = db
        self.path = path
        self._file_id = _file_id(path)

    @classmethod
    def open(cls, path: str | Path | None = None, *, create: bool = True) -> Catalog:
        """The catalog at ``path``, migrated. A damaged one is one error naming the newest good
        backup. ``create``: the caller writes (a scan), creating it if missing; without it, a
        catalog on a read-only drive or folder opens read-only (writes are then refused)."""
        path = Path(path).expanduser() if path else default_path()
        if not create and not path.exists():
            raise CatalogError(_missing(path))
        # Reading the header opens and closes the file, and closing any descriptor of a database
        # drops every POSIX lock this process's SQLite connections hold on it: another process
        # then takes itself for the last one and deletes the WAL our connections still write to
        # (those writes are lost). So only before this process has a connection to the file.
        cut = None if _file_id(path) in _CONNECTED else _truncation(path)
        if cut is not None:
            raise CatalogError(describe_damage(path, cut))
        read_only = not create and not _writable_place(path)
        try:
            try:
                catalog = cls._connect(path, read_only=read_only)
                _CONNECTED.add(_file_id(path))
                return catalog
            except sqlite3.OperationalError as exc:
                # EROFS or EACCES that access() did not foresee (a network share, an ACL).
                if create or read_only or _fault_kind(exc) != "read-only" or not path.is_file():
                    raise
                return cls._connect(path, read_only=True)
        except sqlite3.OperationalError as exc:
            if _fault_kind(exc) is None:
                raise CatalogError(f"cannot open the catalog {path} ({exc}): pass another --db") from exc
            raise CatalogError(describe_write_fault(path, exc, "open")) from exc
        except sqlite3.DatabaseError as exc:
            raise CatalogError(describe_damage(path, str(exc))) from exc
        except OSError as exc:
            raise CatalogError(f"cannot create the catalog at {path} ({exc.strerror}): pass another --db") from exc

    @classmethod
    def _connect(cls, path: Path, *, read_only: bool) -> Catalog:
        if read_only:
            conn = connect_read_only(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: no implicit transactions; writes are in transaction().
            conn = sqlite3.connect(str(path), timeout=LOCK_WAIT_S, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # with WAL: never corrupt, at most the last commit lost
        try:
            conn.execute("PRAGMA foreign_keys=ON")
            catalog = cls(sqlite_utils.Database(conn), path)
            catalog.read_only = read_only
            catalog._migrate()
        except BaseException:
            conn.close()
            raise
        if read_only:
            log.info("catalog %s opened read-only", path)
        return catalog

    def _migrate(self) -> None:
        known = {m.name for m in migrations._migrations}
        unknown = [m.name for m in migrations.applied(self.db) if m.name not in known]
        if unknown:
            raise CatalogError(
                f"{self.path} was written by a newer photoface (migration {unknown[0]}): upgrade photoface"
            )
        pending = migrations.pending(self.db)
        if pending and self.read_only:
            raise CatalogError(
                f"the catalog {self.path} is read-only and from an older photoface (it lacks migration "
                f"{pending[0].name}): open it once where it can be written, or copy it and pass --db"
            )
        if pending and migrations.applied(self.db):  # an existing catalog whose schema will change
            self._backup_before_migration()
        migrations.apply(self.db)

    def _backup_before_migration(self) -> None:
        from photoface import backup

        try:
            backup.automatic(self, f"before migrating to schema version {SCHEMA_VERSION}")
        except (sqlite3.OperationalError, OSError) as exc:
            raise CatalogError(
                f"cannot back up the catalog {self.path} before upgrading it ({exc}): "
                "free some space or make its folder writable, then run the same command again"
            ) from exc

    def _daily_backup(self) -> None:
        """Once per connection, before its first write: a backup if one is due (a day old and
        the catalog changed since). Commands that only read never get here."""
        if self._backup_checked:
            return
        self._backup_checked = True
        from photoface import backup

        try:
            if backup.daily_due(self):
                backup.automatic(self, "(daily)")
        except (PhotofaceError, sqlite3.Error, OSError) as exc:  # the user's change matters more
            log.warning("the daily backup of the catalog was not made (%s)", exc)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction (nested: a savepoint). It takes the write lock first, waiting up
        to the timeout while another process writes: begun deferred, a transaction that reads,
        then writes, fails at once with "database is locked" when another process (a scan in
        another terminal) committed in between, as SQLite cannot upgrade an outdated snapshot."""
        conn = self.db.conn
        if self.read_only:
            raise CatalogError(read_only_refusal(self.path))
        if conn.in_transaction:
            with self.db.atomic():
                yield
            return
        self._daily_backup()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.commit()
        except BaseException:
            conn.rollback()  # also after a failed COMMIT (a full disk): nothing half-written stays open
            raise

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads that see one state of the catalog; writers in other processes go on meanwhile."""
        with self.db.atomic():
            yield

    @property
    def schema_version(self) -> int:
        return len(migrations.applied(self.db))

    # ------------------------------------------------------------------ photos
    def photos_under(self, roots: Sequence[Path]) -> dict[str, PhotoRecord]:
        """Every catalogued photo whose path is one of ``roots`` or lies under one, by path."""
        records: dict[str, PhotoRecord] = {}
        for row in self.db.query("SELECT id, path, size, mtime_ns, hash, status, live_clip FROM photos"):
            path = path_from_db(row["path"])
            if any(is_under(path, root) for root in roots):
                clip = path_from_db(row["live_clip"]) if row["live_clip"] is not None else None
                records[path] = PhotoRecord(
                    row["id"], path, row["size"], row["mtime_ns"], row["hash"], row["status"], clip
                )
        return records

    def unsigned_faces(self, roots: Sequence[Path]) -> dict[str, list[tuple[int, np.ndarray]]]:
        """Photo path -> (face id, landmarks) of its faces without a signature (scanned before
        migration 8), for the photos under ``roots``; videos' faces are left as they are."""
        rows = self.db.execute("""
            SELECT photos.path, faces.id, faces.landmarks FROM faces JOIN photos ON photos.id = faces.photo_id
            WHERE faces.signature IS NULL AND photos.status = 'ok' AND photos.kind = 'photo'
            ORDER BY photos.id, faces.id""").fetchall()
        found: dict[str, list[tuple[int, np.ndarray]]] = {}
        for stored, face_id, landmarks in rows:
            path = path_from_db(stored)
            if any(is_under(path, root) for root in roots):
                found.setdefault(path, []).append((face_id, np.frombuffer(landmarks, np.float32).reshape(5, 2)))
        return found

    def set_signatures(self, signatures: Iterable[tuple[int, bytes]]) -> None:
        with self.transaction():
            self.db.conn.executemany("UPDATE faces SET signature = ? WHERE id = ?", [(s, f) for f, s in signatures])

    def photos_with_hash(self, digest: str) -> list[PhotoRecord]:
        rows = self.db.query(
            "SELECT id, path, size, mtime_ns, hash, status FROM photos WHERE hash = ? AND status = 'ok'", [digest]
        )
        return [
            PhotoRecord(r["id"], path_from_db(r["path"]), r["size"], r["mtime_ns"], r["hash"], r["status"])
            for r in rows
        ]

    def has_photo(self, path: str) -> bool:
        return bool(self.db["photos"].count_where("path = ?", [path_to_db(path)]))

    def has_person(self, person_id: int) -> bool:
        return bool(self.db["people"].count_where("id = ?", [person_id]))

    def known_hashes(self) -> set[str]:
        return {
            row["hash"] for row in self.db.query("SELECT hash FROM photos WHERE status = 'ok' AND hash IS NOT NULL")
        }

    def save_photo(self, path: str, *, size: int, mtime_ns: int, fields: dict) -> int:
        """Insert or update the row of ``path``; returns its id. Call inside ``transaction()``."""
        key = path_to_db(path)
        record = {
            "size": size,
            "mtime_ns": mtime_ns,
            "scanned_at": now(),
            "error": None,
            "duplicate_of": None,
            **fields,
        }
        existing = self.db.execute("SELECT id FROM photos WHERE path = ?", [key]).fetchone()
        if existing:
            self.db["photos"].update(existing[0], record)
            return existing[0]
        return self.db["photos"].insert({"path": key, **record}).last_pk

    def move_photo(self, photo_id: int, new_path: str, *, size: int, mtime_ns: int) -> None:
        self.db["photos"].update(
            photo_id, {"path": path_to_db(new_path), "size": size, "mtime_ns": mtime_ns, "scanned_at": now()}
        )

    def delete_faces(self, face_ids: Sequence[int]) -> None:
        """Remove faces (drawn ones, undone) with what points at them; the face log records it for the index."""
        for face in face_ids:
            self.db.execute("UPDATE faces SET copy_of = NULL WHERE copy_of = ?", [face])
            self.db.execute("DELETE FROM rejections WHERE face_id = ?", [face])
            self.db.execute("DELETE FROM faces WHERE id = ?", [face])

    def set_live_clip(self, photo_id: int, clip: str | None) -> None:
        """The Live Photo clip beside a photo (None: it has none any more)."""
        self.db["photos"].update(photo_id, {"live_clip": path_to_db(clip) if clip is not None else None})

    def touch_photo(self, photo_id: int, *, size: int, mtime_ns: int) -> None:
        """Same content under a new mtime (copied back, touched): nothing to analyse again."""
        self.db["photos"].update(photo_id, {"size": size, "mtime_ns": mtime_ns})

    def promote_duplicate(self, photo_id: int) -> str | None:
        """The original is gone: a surviving exact copy takes its place (same row, so its faces
        and names stay) and the copy's duplicate row goes. Returns the new path, if any."""
        for row in self.db.query(
            "SELECT id, path, size, mtime_ns FROM photos WHERE duplicate_of = ? ORDER BY id", [photo_id]
        ):
            path = path_from_db(row["path"])
            if os.path.lexists(path):
                self.db.execute("DELETE FROM photos WHERE id = ?", [row["id"]])
                self.db.execute("UPDATE photos SET duplicate_of = ? WHERE duplicate_of = ?", [photo_id, row["id"]])
                self.move_photo(photo_id, path, size=row["size"], mtime_ns=row["mtime_ns"])
                return path
        return None

    def remove_photos(self, ids: Iterable[int]) -> int:
        ids = list(ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            self.db.execute(f"DELETE FROM photos WHERE id IN ({','.join('?' * len(chunk))})", chunk)
        return len(ids)

    # ------------------------------------------------------------------- faces
    def replace_faces(self, photo_id: int, faces: Sequence[FaceLike | TrackLike], model: str) -> list[int]:
        """Store the faces of a (re-)analysed photo, or the face tracks of a video. The user's decisions
        on an old face of the same person (embedding cosine > 0.8), its manual assignment and its
        rejections, carry over to the new face, so editing a photo keeps names and corrections."""
        old = [
            (np.frombuffer(row["embedding"], np.float32), row)
            for row in self.db.query(
                """SELECT faces.embedding, faces.person_id, faces.assigned,
                          (SELECT group_concat(person_id) FROM rejections WHERE face_id = faces.id) AS rejected
                   FROM faces WHERE photo_id = ?""",
                [photo_id],
            )
        ]
        old = [(embedding, row) for embedding, row in old if row["assigned"] == "manual" or row["rejected"]]
        self.db.execute("DELETE FROM faces WHERE photo_id = ?", [photo_id])
        ids = []
        for found in faces:
            record = _face_record(photo_id, found, model)
            face = _face_of(found)
            match = max(old, key=lambda item: float(item[0] @ face.embedding), default=None)
            same = match is not None and float(match[0] @ face.embedding) > 0.8
            if same and match[1]["assigned"] == "manual":
                record |= {"person_id": match[1]["person_id"], "assigned": "manual"}
            ids.append(self.db["faces"].insert(record).last_pk)
            for person in match[1]["rejected"].split(",") if same and match[1]["rejected"] else []:
                self.reject([ids[-1]], int(person))
        return ids

    def add_face(self, photo_id: int, face: FaceLike, model: str, origin: str) -> int:
        """One more face of an analysed photo (one found where a region or a person says a face
        is), beside the detector's; a rescan replaces it with the rest."""
        return self.db["faces"].insert(_face_record(photo_id, face, model) | {"origin": origin}).last_pk

    def faces(self, *, person: int | None = None, photo: str | None = None, embeddings: bool = False) -> list[dict]:
        """Faces with their photo path and person, oldest first."""
        where, params = [], []
        if person is not None:
            where.append("faces.person_id = ?")
            params.append(person)
        if photo is not None:
            where.append("photos.path = ?")
            params.append(path_to_db(photo))
        sql = f"""
            SELECT faces.id, photos.path, faces.x, faces.y, faces.w, faces.h, faces.score, faces.size,
                   faces.person_id, faces.assigned, faces.confirmed, people.name, faces.embedding,
                   original.id AS copy_of,
                   faces.origin, photos.kind, faces.track_start, faces.track_end, faces.frame_time
            FROM faces JOIN photos ON photos.id = faces.photo_id
            LEFT JOIN people ON people.id = faces.person_id
            LEFT JOIN faces AS original ON original.id = faces.copy_of
            {"WHERE " + " AND ".join(where) if where else ""}
            ORDER BY faces.id"""
        result = []
        for row in self.db.query(sql, params):
            face = {
                "id": row["id"],
                "photo": path_from_db(row["path"]),
                "box": [round(row[k], 1) for k in ("x", "y", "w", "h")],
                "score": round(row["score"], 4),
                "size": round(row["size"], 1),
                "person": row["person_id"],
                "name": row["name"],
                "assigned": row["assigned"],
                "confirmed": bool(row["confirmed"]),
                "copy_of": row["copy_of"],
                "origin": row["origin"],
                "kind": row["kind"],
                **track_times(row["track_start"], row["track_end"], row["frame_time"]),
            }
            if embeddings:
                face["embedding"] = np.frombuffer(row["embedding"], np.float32).tolist()
            result.append(face)
        return result

    def gallery_faces(
        self,
        *,
        person: int | None = None,
        unassigned: bool = False,
        photo_id: int | None = None,
        face: int | None = None,
        order: str = "faces.id",
        limit: int = -1,
        offset: int = 0,
    ) -> list[dict]:
        """Faces (all, or those of ``person`` / nobody / ``photo_id`` / the one ``face``) with what a page shows and
        what a thumbnail depends on (photo hash, box). ``order`` is one of ``FACE_ORDERS``."""
        where, params = ["1"], []
        if person is not None:
            where.append("faces.person_id = ?")
            params.append(person)
        if unassigned:
            where.append("faces.person_id IS NULL AND photos.status = 'ok'")
        if photo_id is not None:
            where.append("faces.photo_id = ?")
            params.append(photo_id)
        if face is not None:
            where.append("faces.id = ?")
            params.append(face)
        rows = self.db.execute(
            f"""SELECT faces.id, photos.path, photos.hash, faces.x, faces.y, faces.w, faces.h, faces.score,
                       faces.size, faces.person_id, faces.assigned, faces.embedding, faces.photo_id, people.name,
                       photos.kind, faces.track_start, faces.track_end, faces.frame_time
                FROM faces JOIN photos ON photos.id = faces.photo_id
                LEFT JOIN people ON people.id = faces.person_id
                WHERE {" AND ".join(where)} ORDER BY {FACE_ORDERS[order]} LIMIT ? OFFSET ?""",
            [*params, limit, offset],
        )
        return [
            {
                "id": row[0],
                "photo": path_from_db(row[1]),
                "photo_hash": row[2],
                "box": (row[3], row[4], row[5], row[6]),
                "score": row[7],
                "size": row[8],
                "person": row[9],
                "assigned": row[10],
                "embedding": np.frombuffer(row[11], np.float32),
                "photo_id": row[12],
                "name": row[13],
                "kind": row[14],
                "track_start": row[15],
                "track_end": row[16],
                "frame_time": row[17],
            }
            for row in rows
        ]

    # ------------------------------------------------------------------ people
    def cluster_input(self, *, signatures: bool = False) -> ClusterInput:
        """Every face of the catalogued photos as arrays for clustering, with the user's decisions,
        all of one state of the catalog. ``signatures``: with the faces' signatures (256 bytes
        each), which only finding near-copies reads."""
        with self.snapshot():
            return self._cluster_input(signatures)

    def _cluster_input(self, signatures: bool) -> ClusterInput:
        cells = "faces.signature" if signatures else "NULL"
        rows = self.db.execute(f"""
            SELECT faces.id, faces.photo_id, faces.size, faces.embedding, faces.person_id, faces.assigned,
                   people.ignored, faces.clustered, faces.copy_of, julianday(photos.taken_at), {cells},
                   photos.kind = 'video'
            FROM faces JOIN photos ON photos.id = faces.photo_id
            LEFT JOIN people ON people.id = faces.person_id
            WHERE photos.status = 'ok' ORDER BY faces.id""").fetchall()
        arrays = {
            "ids": np.array([r[0] for r in rows], dtype=np.int64),
            "photos": np.array([r[1] for r in rows], dtype=np.int64),
            "sizes": np.array([r[2] for r in rows], dtype=np.float64),
            "embeddings": np.frombuffer(b"".join(r[3] for r in rows), np.float32).reshape(len(rows), -1)
            if rows
            else np.empty((0, 128), np.float32),
            "persons": np.array([r[4] if r[4] is not None else -1 for r in rows], dtype=np.int64),
            "fixed": np.array([r[5] == "manual" or bool(r[6]) for r in rows], dtype=bool),
            # When each face's photo was taken, as a Julian day; NaN where it has no date.
            "days": np.array([r[9] if r[9] is not None else np.nan for r in rows], dtype=np.float64),
            "signatures": signature_rows([r[10] for r in rows]),
        }
        return ClusterInput(
            arrays=arrays,
            new=np.array([r[7] == NEW for r in rows], dtype=bool),
            decided=np.array([r[7] == DECIDED for r in rows], dtype=bool),
            copy_of=np.array([r[8] if r[8] is not None else -1 for r in rows], dtype=np.int64),
            stills=np.array([not r[11] for r in rows], dtype=bool),
            named=frozenset(
                r[0] for r in self.db.execute("SELECT id FROM people WHERE name IS NOT NULL AND NOT ignored")
            ),
            ignored=frozenset(r[0] for r in self.db.execute("SELECT id FROM people WHERE ignored")),
            rejections=frozenset(self.db.execute("SELECT face_id, person_id FROM rejections").fetchall()),
            born=dict(self.db.execute("SELECT id, julianday(born) FROM people WHERE born IS NOT NULL").fetchall()),
        )

    def face_people(self, face_ids: Sequence[int]) -> dict[int, tuple[int, bool, bool]]:
        """Face id -> (person id or -1, person named, person ignored), for faces of catalogued photos."""
        result = {}
        for start in range(0, len(face_ids), 500):
            part = list(face_ids[start : start + 500])
            rows = self.db.execute(
                f"""SELECT faces.id, faces.person_id, people.name IS NOT NULL, people.ignored
                    FROM faces JOIN photos ON photos.id = faces.photo_id
                    LEFT JOIN people ON people.id = faces.person_id
                    WHERE photos.status = 'ok' AND faces.id IN ({",".join("?" * len(part))})""",
                part,
            )
            for face, person, named, ignored in rows:
                result[face] = (person if person is not None else -1, bool(named), bool(ignored))
        return result

    def photos_for_regions(self, paths: Iterable[str] | None = None, roots: Sequence[Path] = ()) -> list[dict]:
        """Path, upright size and orientation of analysed photos: those at ``paths``, else those
        under ``roots`` (with or without detected faces: a region makes a face of its own). Not
        videos: XMP face regions are boxes on a still."""
        rows = self.db.execute(
            "SELECT id, path, width, height, orientation FROM photos "
            "WHERE status = 'ok' AND kind = 'photo' ORDER BY path"
        )
        wanted = set(paths) if paths is not None else None
        result = []
        for photo_id, stored, width, height, orientation in rows:
            path = path_from_db(stored)
            if (wanted is not None and path in wanted) or (wanted is None and any(is_under(path, r) for r in roots)):
                result.append(_photo_frame(photo_id, path, width, height, orientation))
        return result

    def named_faces_by_photo(self, people: set[int] | None = None) -> list[dict]:
        """Each photo with named faces (with a face of ``people``, when given): path, upright
        size, orientation and all its named faces (box, name)."""
        rows = self.db.execute("""
            SELECT photos.id, photos.path, photos.width, photos.height, photos.orientation,
                   faces.x, faces.y, faces.w, faces.h, people.id, people.name
            FROM faces JOIN photos ON photos.id = faces.photo_id JOIN people ON people.id = faces.person_id
            WHERE photos.status = 'ok' AND photos.kind = 'photo' AND people.name IS NOT NULL AND NOT people.ignored
            ORDER BY photos.path, faces.id""")
        photos: dict[int, dict] = {}
        wanted: set[int] = set()
        for photo_id, stored, width, height, orientation, x, y, w, h, person, name in rows:
            if people is None or person in people:
                wanted.add(photo_id)
            entry = photos.setdefault(
                photo_id, {**_photo_frame(photo_id, path_from_db(stored), width, height, orientation), "faces": []}
            )
            entry["faces"].append({"box": (x, y, w, h), "name": name})
        return [entry for photo_id, entry in photos.items() if photo_id in wanted]

    def photo_frames(self) -> list[dict]:
        """Path, upright size and orientation of every analysed photo (not videos)."""
        rows = self.db.execute(
            "SELECT id, path, width, height, orientation FROM photos WHERE status = 'ok' AND kind = 'photo'"
        )
        return [
            _photo_frame(i, path_from_db(path), width, height, orientation)
            for i, path, width, height, orientation in rows
        ]

    def set_copies(self, copies: Sequence[tuple[int, int | None]]) -> None:
        """(face id, the face id it is a near-copy of or None): what clustering found."""
        self.db.conn.executemany("UPDATE faces SET copy_of = ? WHERE id = ?", [(o, f) for f, o in copies])

    def copy_group(self, face_id: int) -> list[int]:
        """The face and the faces in one near-copy group with it (as the last ``cluster`` found
        them: ``copy_of`` points at the group's first face), by id; [] for an unknown face."""
        row = self.db.execute("SELECT coalesce(copy_of, id) FROM faces WHERE id = ?", [face_id]).fetchone()
        if row is None:
            return []
        rows = self.db.execute("SELECT id FROM faces WHERE id = ? OR copy_of = ? ORDER BY id", [row[0], row[0]])
        return [face for (face,) in rows]

    def mark_clustered(self, face_ids: Sequence[int]) -> None:
        """These faces were placed (new ones) or placed around (decided ones); faces a scan added
        since clustering read the catalog stay new."""
        self.db.conn.executemany(
            f"UPDATE faces SET clustered = {CLUSTERED} WHERE id = ? AND clustered IN ({NEW}, {DECIDED})",
            [(f,) for f in face_ids],
        )

    def _mark_decided(self, face_ids: Sequence[int]) -> None:
        self.db.conn.executemany(
            f"UPDATE faces SET clustered = {DECIDED} WHERE id = ? AND clustered = {CLUSTERED}", [(f,) for f in face_ids]
        )

    def reject(self, face_ids: Sequence[int], person_id: int) -> None:
        """Remember that these faces are not this person (a manual decision)."""
        self.db.conn.executemany(
            "INSERT OR IGNORE INTO rejections (face_id, person_id, created_at) VALUES (?, ?, ?)",
            [(face, person_id, now()) for face in face_ids],
        )
        self._mark_decided(face_ids)

    def forget_rejections(self, face_ids: Sequence[int], person_id: int) -> None:
        self.db.conn.executemany(
            "DELETE FROM rejections WHERE face_id = ? AND person_id = ?", [(face, person_id) for face in face_ids]
        )

    def rejected(self, face_ids: Sequence[int], person_id: int) -> list[int]:
        """Those of ``face_ids`` that were rejected for the person."""
        marks = ",".join("?" * len(face_ids))
        rows = self.db.execute(
            f"SELECT face_id FROM rejections WHERE person_id = ? AND face_id IN ({marks}) ORDER BY face_id",
            [person_id, *face_ids],
        )
        return [row[0] for row in rows]

    def unassign_faces(self, face_ids: Sequence[int]) -> None:
        self.db.conn.executemany(
            "UPDATE faces SET person_id = NULL, assigned = NULL, confirmed = 0 WHERE id = ?",
            [(face,) for face in face_ids],
        )
        self._mark_decided(face_ids)

    def create_person(self, name: str | None = None) -> int:
        return self.db["people"].insert({"name": name, "created_at": now()}).last_pk

    def set_auto_assignments(self, changes: Sequence[tuple[int, int | None, int | None]]) -> int:
        """(face id, its person when read, new person) triples, as automatic assignments; returns
        how many were made. A face changed since it was read (another process: the user moved,
        rejected or confirmed it, or ignored its person while clustering ran) keeps that change,
        and a face never goes to a person merged away meanwhile or one it was rejected from."""
        cursor = self.db.conn.executemany(
            """UPDATE faces SET person_id = :new, assigned = CASE WHEN :new IS NULL THEN NULL ELSE 'auto' END
               WHERE id = :face AND person_id IS :was AND assigned IS NOT 'manual'
                 AND NOT EXISTS (SELECT 1 FROM people WHERE id = :was AND ignored)
                 AND (:new IS NULL OR EXISTS (SELECT 1 FROM people WHERE id = :new))
                 AND NOT EXISTS (SELECT 1 FROM rejections WHERE face_id = :face AND person_id = :new)""",
            [{"face": face, "was": was, "new": new} for face, was, new in changes],
        )
        return cursor.rowcount

    def assign_faces(self, face_ids: Sequence[int], person_id: int, *, confirmed: bool | None) -> None:
        """A manual decision: these faces are this person. ``confirmed``: whether the user said so
        of each face (``m009_confirmed_faces``); None keeps what each was (a merge: the same person)."""
        self.db.conn.executemany(
            "UPDATE faces SET person_id = ?, assigned = 'manual', confirmed = coalesce(?, confirmed) WHERE id = ?",
            [(person_id, confirmed, face) for face in face_ids],
        )
        self._mark_decided(face_ids)

    def confirm_person(self, person_id: int) -> None:
        # Not a decision on each face (``_mark_decided``): naming a cluster says who it is, not
        # that the user looked at the faces around it (measured: marking them attached strangers
        # in the background of LFW's photos to the people just named).
        self.db.execute("UPDATE faces SET assigned = 'manual' WHERE person_id = ?", [person_id])

    def delete_empty_unnamed_people(self) -> int:
        return self.db.execute("""DELETE FROM people WHERE name IS NULL AND NOT ignored
                                  AND id NOT IN (SELECT person_id FROM faces WHERE person_id IS NOT NULL)""").rowcount

    def person(self, person_id: int) -> dict | None:
        return next(self.db.query("SELECT * FROM people WHERE id = ?", [person_id]), None)

    def person_by_name(self, name: str) -> dict | None:
        return next(self.db.query("SELECT * FROM people WHERE name = ? COLLATE NOCASE", [name]), None)

    def names(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT name FROM people WHERE name IS NOT NULL ORDER BY name")]

    def update_person(self, person_id: int, fields: dict) -> None:
        self.db["people"].update(person_id, fields)

    def photos_before(self, person_id: int, day: str, *, assigned: str) -> list[dict]:
        """The ``assigned`` ("manual" or "auto") faces of a person in photos taken before ``day``
        (YYYY-MM-DD): face id, path, taken_at; oldest first."""
        rows = self.db.query(
            """SELECT faces.id, photos.path, photos.taken_at FROM faces JOIN photos ON photos.id = faces.photo_id
               WHERE faces.person_id = ? AND faces.assigned = ? AND julianday(photos.taken_at) < julianday(?)
               ORDER BY photos.taken_at, faces.id""",
            [person_id, assigned, day],
        )
        return [{**row, "path": path_from_db(row["path"])} for row in rows]

    def delete_person(self, person_id: int) -> None:
        self.db.execute(
            "UPDATE faces SET person_id = NULL, assigned = NULL, confirmed = 0 WHERE person_id = ?", [person_id]
        )
        self.db.execute("DELETE FROM people WHERE id = ?", [person_id])

    def people(self, *, include_hidden: bool = False) -> list[dict]:
        """People with face and photo counts and one sample photo, largest first."""
        hidden = "" if include_hidden else "WHERE NOT people.hidden AND NOT people.ignored"
        rows = self.db.query(f"""
            SELECT people.id, people.name, people.ignored, people.hidden, people.born, count(faces.id) AS faces,
                   count(DISTINCT faces.photo_id) AS photos,
                   (SELECT photos.path FROM faces AS best JOIN photos ON photos.id = best.photo_id
                    WHERE best.person_id = people.id ORDER BY best.score * best.size DESC LIMIT 1) AS sample
            FROM people LEFT JOIN faces ON faces.person_id = people.id
            {hidden} GROUP BY people.id ORDER BY faces DESC, people.id""")
        return [
            {
                **row,
                "ignored": bool(row["ignored"]),
                "hidden": bool(row["hidden"]),
                "sample": path_from_db(row["sample"]) if row["sample"] is not None else None,
            }
            for row in rows
        ]

    def people_summary(
        self, *, show: str = "all", search: str = "", limit: int = 60, offset: int = 0, order: str = "todo"
    ) -> tuple[list[dict], int]:
        """One page of people (``show``: one of ``PEOPLE_FILTERS``; ``search``: part of a name) and
        how many match, in ``order`` (one of ``PEOPLE_ORDERS``; by default unnamed first, then those
        with faces placed automatically (not reviewed), largest first). ``auto`` counts a person's
        faces nobody has looked at."""
        where = [f"({PEOPLE_FILTERS[show]})"]
        params: list = []
        if search.strip():
            where.append("people.name LIKE ? ESCAPE '\\'")
            params.append("%" + re.sub(r"([%_\\])", r"\\\1", search.strip()) + "%")
        condition = " AND ".join(where)
        total = self.db.execute(f"SELECT count(*) FROM people WHERE {condition}", params).fetchone()[0]
        rows = self.db.query(
            f"""SELECT people.id, people.name, people.ignored, people.hidden, count(faces.id) AS faces,
                       count(DISTINCT faces.photo_id) AS photos, coalesce(sum(faces.assigned = 'auto'), 0) AS auto
                FROM people LEFT JOIN faces ON faces.person_id = people.id
                WHERE {condition} GROUP BY people.id
                ORDER BY {PEOPLE_ORDERS[order]} LIMIT ? OFFSET ?""",
            [*params, limit, offset],
        )
        return [{**row, "ignored": bool(row["ignored"]), "hidden": bool(row["hidden"])} for row in rows], total

    def people_counts(self, search: str = "") -> dict[str, int]:
        """How many people each of ``PEOPLE_FILTERS`` shows (with ``search``, part of a name), in one
        pass over the people table (no faces: the tabs showing them must stay cheap)."""
        where, params = "1", []
        if search.strip():
            where = "people.name LIKE ? ESCAPE '\\'"
            params.append("%" + re.sub(r"([%_\\])", r"\\\1", search.strip()) + "%")
        columns = ", ".join(f"coalesce(sum({condition}), 0)" for condition in PEOPLE_FILTERS.values())
        row = self.db.execute(f"SELECT {columns} FROM people WHERE {where}", params).fetchone()
        return dict(zip(PEOPLE_FILTERS, row, strict=True))

    def photo(self, photo_id: int) -> dict | None:
        row = next(self.db.query("SELECT * FROM photos WHERE id = ?", [photo_id]), None)
        if row is None:
            return None
        clip = row["live_clip"]
        return {**row, "path": path_from_db(row["path"]), "live_clip": path_from_db(clip) if clip is not None else None}

    def decision_state(self, face_ids: Sequence[int], person_ids: Sequence[int]) -> dict:
        """What a decision on these faces and people can change, to put back with ``restore_decisions``."""
        faces, people = ",".join("?" * len(face_ids)), ",".join("?" * len(person_ids))
        return {
            "faces": self.db.execute(
                f"SELECT id, person_id, assigned, confirmed FROM faces WHERE id IN ({faces})", list(face_ids)
            ).fetchall(),
            "rejections": self.db.execute(
                f"SELECT face_id, person_id, created_at FROM rejections WHERE face_id IN ({faces})", list(face_ids)
            ).fetchall(),
            "people": list(self.db.query(f"SELECT * FROM people WHERE id IN ({people})", list(person_ids))),
        }

    def restore_decisions(self, state: dict) -> None:
        """Undo: people, face assignments and rejections as ``decision_state`` saw them. Call
        inside ``transaction()``."""
        for person in state["people"]:
            columns, marks = ", ".join(person), ",".join("?" * len(person))
            self.db.execute(f"INSERT OR IGNORE INTO people ({columns}) VALUES ({marks})", list(person.values()))
            self.update_person(person["id"], {k: v for k, v in person.items() if k != "id"})
        face_ids = [face for face, *_ in state["faces"]]
        self.db.conn.executemany(
            "UPDATE faces SET person_id = ?, assigned = ?, confirmed = ? WHERE id = ?",
            [(person, assigned, confirmed, face) for face, person, assigned, confirmed in state["faces"]],
        )
        self.db.conn.executemany("DELETE FROM rejections WHERE face_id = ?", [(face,) for face in face_ids])
        self.db.conn.executemany(
            "INSERT OR IGNORE INTO rejections (face_id, person_id, created_at) VALUES (?, ?, ?)", state["rejections"]
        )
        self.delete_empty_unnamed_people()

    def unassigned_faces(self) -> int:
        return self.db.execute("SELECT count(*) FROM faces WHERE person_id IS NULL").fetchone()[0]

    def photos_of(self, person_ids: Sequence[int], *, every: bool) -> list[str]:
        """Photos (and videos) showing all (``every``) or any of the people; newest first where dates are known."""
        return [path_from_db(row[1]) for row in self._photos_of(person_ids, every=every)]

    def _photos_of(self, person_ids: Sequence[int], *, every: bool) -> list[tuple[int, str | bytes, str]]:
        marks = ",".join("?" * len(person_ids))
        having = f"HAVING count(DISTINCT faces.person_id) = {len(set(person_ids))}" if every else ""
        return self.db.execute(
            f"""
            SELECT photos.id, photos.path, photos.kind FROM photos JOIN faces ON faces.photo_id = photos.id
            WHERE faces.person_id IN ({marks}) AND photos.status = 'ok'
            GROUP BY photos.id {having}
            ORDER BY photos.taken_at IS NULL, photos.taken_at DESC, photos.path""",
            list(person_ids),
        ).fetchall()

    def appearances(self, person_ids: Sequence[int], *, every: bool) -> list[dict]:
        """``photos_of`` with what each file is (``kind``) and the faces of these people in it
        (``id``, ``person``, ``name``, ``box`` and, in a video, the track's ``start``, ``end``, ``frame``)."""
        found = {
            photo_id: {"path": path_from_db(path), "kind": kind, "faces": []}
            for photo_id, path, kind in self._photos_of(person_ids, every=every)
        }
        marks = ",".join("?" * len(person_ids))
        rows = self.db.execute(
            f"""SELECT faces.photo_id, faces.id, faces.person_id, people.name, faces.x, faces.y, faces.w, faces.h,
                       faces.track_start, faces.track_end, faces.frame_time
                FROM faces JOIN people ON people.id = faces.person_id
                WHERE faces.person_id IN ({marks}) ORDER BY faces.track_start, faces.id""",
            list(person_ids),
        )
        for photo_id, face, person, name, x, y, w, h, start, end, frame in rows:
            if photo_id in found:
                box = [round(v, 1) for v in (x, y, w, h)]
                found[photo_id]["faces"].append(
                    {"id": face, "person": person, "name": name, "box": box, **track_times(start, end, frame)}
                )
        return list(found.values())

    def face_rows(self, face_ids: Sequence[int]) -> list[dict]:
        marks = ",".join("?" * len(face_ids))
        rows = self.db.query(
            f"""SELECT faces.*, photos.path FROM faces JOIN photos ON photos.id = faces.photo_id
                                 WHERE faces.id IN ({marks}) ORDER BY faces.id""",
            list(face_ids),
        )
        return [{**row, "path": path_from_db(row["path"])} for row in rows]

    # ---------------------------------------------------------------- overview
    def stats(self) -> dict:
        def one(sql: str) -> int:
            return self.db.execute(sql).fetchone()[0]

        return {
            "photos": one("SELECT count(*) FROM photos WHERE status = 'ok'"),
            "videos": one("SELECT count(*) FROM photos WHERE status = 'ok' AND kind = 'video'"),
            "live_clips": one("SELECT count(*) FROM photos WHERE status = 'ok' AND live_clip IS NOT NULL"),
            "faces": one("SELECT count(*) FROM faces"),
            "failed": one("SELECT count(*) FROM photos WHERE status = 'failed'"),
            "duplicates": one("SELECT count(*) FROM photos WHERE status = 'duplicate'"),
            # CROSS JOIN keeps the copies (a partial index) as the outer loop: 0.24 -> 0.02 s at 100,000 faces.
            "near_duplicates": one("""
                SELECT count(DISTINCT copies.photo_id) FROM faces AS copies
                CROSS JOIN faces AS original ON original.id = copies.copy_of AND original.photo_id != copies.photo_id
                CROSS JOIN photos ON photos.id = copies.photo_id AND photos.status = 'ok'
                WHERE copies.copy_of IS NOT NULL"""),
            "photos_without_faces": one(
                "SELECT count(*) FROM photos WHERE status = 'ok' AND id NOT IN (SELECT photo_id FROM faces)"
            ),
            "people_named": one("SELECT count(*) FROM people WHERE name IS NOT NULL"),
            "people_unnamed": one("SELECT count(*) FROM people WHERE name IS NULL"),
            "unassigned_faces": one("SELECT count(*) FROM faces WHERE person_id IS NULL"),
            "last_scan": self.last_scan(),
            "db": str(self.path),
            "schema_version": self.schema_version,
        }

    # -------------------------------------------------------------- face index
    def uid(self) -> str:
        return self.db.execute("SELECT value FROM catalog_info WHERE key = 'uid'").fetchone()[0]

    def face_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM faces").fetchone()[0]

    def face_log_position(self) -> int:
        """The number of the last face change ever logged (kept by AUTOINCREMENT, so pruning the
        log does not lower it)."""
        row = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'face_log'").fetchone()
        return row[0] if row else 0

    def face_log_pruned_through(self) -> int:
        row = self.db.execute("SELECT value FROM catalog_info WHERE key = 'face_log_pruned_through'").fetchone()
        return int(row[0])

    def face_changes_since(self, seq: int) -> tuple[dict[int, bool], int]:
        """Each face changed after log entry ``seq``: added (True: now in the catalog) or removed,
        and the last entry read."""
        changes: dict[int, bool] = {}
        last = seq
        for entry, face, added in self.db.execute(
            "SELECT seq, face_id, added FROM face_log WHERE seq > ? ORDER BY seq", [seq]
        ):
            changes[face], last = bool(added), entry
        return changes, last

    def prune_face_log(self, seq: int) -> None:
        """Forget log entries an up-to-date index holds; an index older than that is rebuilt."""
        with self.transaction():
            self.db.execute("DELETE FROM face_log WHERE seq <= ?", [seq])
            self.db.execute(
                "UPDATE catalog_info SET value = max(CAST(value AS INTEGER), ?) WHERE key = 'face_log_pruned_through'",
                [seq],
            )

    def embeddings_in_chunks(
        self, face_ids: Sequence[int] | None = None, chunk: int = 50_000
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, float32 embeddings) of every face, or of ``face_ids`` still in the catalog."""
        if face_ids is None:
            last = -1
            while True:
                rows = self.db.execute(
                    "SELECT id, embedding FROM faces WHERE id > ? ORDER BY id LIMIT ?", [last, chunk]
                ).fetchall()
                if not rows:
                    return
                last = rows[-1][0]
                yield _id_vectors(rows)
        else:
            ids = list(face_ids)
            for start in range(0, len(ids), 500):
                part = ids[start : start + 500]
                rows = self.db.execute(
                    f"SELECT id, embedding FROM faces WHERE id IN ({','.join('?' * len(part))})", part
                ).fetchall()
                if rows:
                    yield _id_vectors(rows)

    def last_scan(self) -> dict | None:
        return next(self.db.query("SELECT * FROM scans ORDER BY id DESC LIMIT 1"), None)

    def face_models(self) -> dict[str, int]:
        """How many faces each embedding model made, most first (a catalog can mix profiles)."""
        rows = self.db.execute("SELECT model, count(*) FROM faces GROUP BY model ORDER BY count(*) DESC, model")
        return {model: count for model, count in rows}

    def failures(self) -> list[dict]:
        rows = self.db.query("SELECT path, error, scanned_at FROM photos WHERE status = 'failed' ORDER BY path")
        return [{"path": path_from_db(r["path"]), "error": r["error"], "scanned_at": r["scanned_at"]} for r in rows]

    def check_in_place(self) -> None:
        """Raise if the catalog file was deleted or replaced while open: writes would go to a
        file nobody can open again."""
        if _file_id(self.path) != self._file_id:
            raise CatalogError(
                f"the catalog {self.path} was deleted or replaced while photoface used it: "
                "restore it (or pass --db), then run the same command again"
            )

    # ------------------------------------------------------------------- scans
    def start_scan(self, roots: Sequence[Path], provider: str, model: str) -> int:
        """Record a new scan. Call it holding the scan lock: a row still 'running' then belongs
        to a process that is gone (kill -9, a power cut), and is closed as interrupted."""
        with self.transaction():
            self.db.execute(
                "UPDATE scans SET status = 'interrupted', stop_reason = ? WHERE status = 'running'",
                [PROCESS_GONE],
            )
            return (
                self.db["scans"]
                .insert(
                    {
                        "started_at": now(),
                        "roots": "\n".join(map(printable, roots)),
                        "status": "running",
                        "provider": provider,
                        "model": model,
                        "pid": os.getpid(),
                    }
                )
                .last_pk
            )

    def finish_scan(self, scan_id: int, status: str, counts: dict[str, int], reason: str | None = None) -> None:
        with self.transaction():
            self.db["scans"].update(scan_id, {"finished_at": now(), "status": status, "stop_reason": reason, **counts})


def _face_of(found: FaceLike | TrackLike) -> FaceLike:
    """A photo's face itself; a track's face of its best frame."""
    return found.face if hasattr(found, "frame") else found


def _face_record(photo_id: int, found: FaceLike | TrackLike, model: str) -> dict:
    face = _face_of(found)
    times = (found.start, found.end, found.frame) if face is not found else (None, None, None)
    return {
        "track_start": times[0],
        "track_end": times[1],
        "frame_time": times[2],
        "photo_id": photo_id,
        "x": face.box[0],
        "y": face.box[1],
        "w": face.box[2],
        "h": face.box[3],
        "score": face.score,
        "size": face.size,
        "model": model,
        "landmarks": np.asarray(face.landmarks, np.float32).tobytes(),
        "embedding": np.asarray(face.embedding, np.float32).tobytes(),
        "signature": getattr(face, "signature", None),
    }


def track_times(start: float | None, end: float | None, frame: float | None) -> dict:
    """A face's times as ``--json`` gives them: seconds, to 0.01, for a video's track; None for a photo's face."""
    times = {"start": start, "end": end, "frame": frame}
    return {key: round(value, 2) if value is not None else None for key, value in times.items()}


def signature_rows(cells: list[bytes | None]) -> np.ndarray | None:
    """The faces' grey cells (photoface.engine.signature) as rows, zeros (nothing to compare)
    where a face has none; None where no face has any (a catalog scanned before them)."""
    if all(c is None for c in cells):
        return None
    return np.frombuffer(b"".join(c if c is not None else signature.EMPTY for c in cells), np.uint8).reshape(
        len(cells), len(signature.EMPTY)
    )


def _photo_frame(photo_id: int, path: str, width: int, height: int, orientation: int | None) -> dict:
    """What placing a region on a photo needs: its upright size and EXIF orientation (1 when unknown)."""
    return {"id": photo_id, "path": path, "width": width, "height": height, "orientation": orientation or 1}


def _id_vectors(rows: list) -> tuple[np.ndarray, np.ndarray]:
    ids = np.array([row[0] for row in rows], dtype=np.int64)
    return ids, np.frombuffer(b"".join(row[1] for row in rows), np.float32).reshape(len(rows), -1)


PROCESS_GONE = "its process is gone (killed, crashed, or the machine stopped)"


# Catalog files (device, inode) this process has opened an SQLite connection to (Catalog.open).
_CONNECTED: set[tuple[int, int] | None] = set()


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


# How long a write waits for another process's write (a scan, a cluster) before it gives up.
LOCK_WAIT_S = 30

# What SQLite and the OS say when the catalog's disk, not the catalog, is the problem.
_FAULTS = {
    "full": ({errno.ENOSPC, errno.EDQUOT}, ("disk is full", "disk quota")),
    "read-only": ({errno.EROFS, errno.EACCES, errno.EPERM}, ("readonly database", "read-only", "unable to open")),
    "io": ({errno.EIO, errno.ENXIO, errno.ENODEV}, ("disk i/o error",)),
    "busy": (set(), ("database is locked",)),
}


def _fault_kind(exc: BaseException) -> str | None:
    """'full', 'read-only', 'io' or 'busy' for a fault of the machine holding the catalog (or of
    another program holding its lock), else None."""
    code = getattr(exc, "errno", None)
    text = str(exc).lower()
    for kind, (codes, phrases) in _FAULTS.items():
        if code in codes or any(phrase in text for phrase in phrases):
            return kind
    return None


_FAULT_ADVICE = {
    "full": "the disk is full: free some space, then run the same command again",
    "read-only": "its folder is read-only or its permissions changed: make it writable, or pass another --db",
    "io": "the drive failed or was removed: reconnect or check it, then run the same command again",
    "busy": f"another program kept it locked for {LOCK_WAIT_S} s: let it finish, then run the same command again",
    None: "check the disk, then run the same command again",
}


def describe_write_fault(path: Path, exc: BaseException, doing: str = "write") -> str:
    """One line for a catalog that cannot be written: what happened and what to do."""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"cannot {doing} the catalog {path} ({detail}): {_FAULT_ADVICE[_fault_kind(exc)]}"


def is_write_fault(exc: BaseException) -> bool:
    """An error raised while writing the catalog that the machine, not photoface, caused."""
    return isinstance(exc, sqlite3.OperationalError | OSError) and _fault_kind(exc) is not None


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that never writes: ``mode=ro``; ``immutable`` where SQLite cannot even keep
    the WAL index (``-shm``) beside the file (a read-only drive after a clean close)."""
    uri = "file:" + quote(os.fsencode(Path(path).absolute()))
    for extra in ("", "&immutable=1"):
        conn = sqlite3.connect(
            f"{uri}?mode=ro{extra}", uri=True, timeout=LOCK_WAIT_S, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError:
            conn.close()
            if extra:
                raise
    raise AssertionError("unreachable")


def _writable_place(path: Path) -> bool:
    """SQLite can write the file and create its -wal and -shm beside it (access() also says
    EROFS for root, whom permissions do not stop)."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def _truncation(path: Path) -> str | None:
    """Why the file is certainly cut short, from its size and header alone, or None. A file cut
    in the middle opens and then fails at some later read; this catches it at once."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            header = handle.read(100)
    except OSError:
        return None
    if _size(path.with_name(path.name + "-wal")):
        return None  # pages may live in the WAL; SQLite's own reads tell then
    if size == 0:
        from photoface import backup

        # SQLite takes an empty file for a new catalog; one with backups beside it was emptied.
        return "an empty file" if backup.backups(path) else None
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        return None  # SQLite itself says "file is not a database"
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # The header's page count is only valid when written by the same change as the counter.
    if header[24:28] == header[92:96] and size < page_size * pages:
        return f"truncated: {size:,} of its {page_size * pages:,} bytes"
    return None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _missing(path: Path) -> str:
    """No catalog: after a mistaken rm its backups may still be beside it."""
    from photoface import backup

    good = backup.newest_good(path)
    if good is None:
        return f"no catalog at {path}: run 'photoface scan DIR' first, or pass --db"
    return f"no catalog at {path}, but it has backups: put back the newest with: photoface --db {path} restore {good}"


def is_damage(exc: BaseException) -> bool:
    """SQLite found the file damaged (not a fault of the machine that writes it)."""
    text = str(exc).lower()
    return (
        isinstance(exc, sqlite3.DatabaseError)
        and not isinstance(exc, sqlite3.OperationalError)
        and ("malformed" in text or "not a database" in text)
    )


def describe_damage(path: Path, detail: str) -> str:
    """One line for a damaged catalog, naming the newest good backup and the restore command."""
    from photoface import backup

    return backup.damaged(path, detail)


def read_only_refusal(path: Path) -> str:
    return (
        f"the catalog {printable(path)} is read-only (its drive, folder or file cannot be written), and this "
        "changes it: make it writable, or copy it somewhere writable and pass --db"
    )
