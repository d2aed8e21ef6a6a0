"""Backups of the catalog: consistent copies beside it, checked before older ones are pruned.

The catalog is the user's work (their names), and one bad sector, a sync tool that truncates
it or a mistaken ``rm`` would lose all of it. So photoface keeps copies in
``<catalog>.backups/catalog-YYYYMMDD-HHMMSS.db``: before every migration, once a day when the
catalog changes (checked on the first write of a process, never by a command that only reads),
and whenever ``photoface backup`` asks. Copies are made with SQLite's online backup, which
gives one consistent state while other processes go on writing, and each is checked
(``integrity_check``, photoface's own tables) before the oldest beyond the number to keep
(``PHOTOFACE_BACKUPS``, default 5) are deleted. ``restore`` checks a copy the same way, keeps
the catalog it replaces beside it, and never deletes anything.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from photoface import config
from photoface.catalog import Catalog, connect_read_only, migrations, printable
from photoface.errors import CatalogError

log = logging.getLogger(__name__)

DAY_S = 24 * 3600
SQLITE_MAGIC = b"SQLite format 3\x00"
_NAME = re.compile(r"catalog-(\d{8}-\d{6})(?:-(\d+))?\.db")
_PARTIAL = ".partial"  # a copy being written; never taken for a backup
# Derived files beside the catalog that describe one state of it: after a restore they would
# describe another (the face index's log position), so they go; photoface rebuilds them.
_DERIVED_SUFFIXES = (".faces.usearch", ".faces.json")


@dataclass(frozen=True)
class CatalogCheck:
    """A copy of a catalog that passed the checks, and what it holds."""

    path: Path
    schema_version: int
    photos: int
    faces: int
    people_named: int


@dataclass(frozen=True)
class Restored:
    source: Path
    catalog: Path
    kept: Path | None  # the catalog it replaced, moved aside (None: there was none)
    check: CatalogCheck


def folder(catalog_path: Path) -> Path:
    return catalog_path.with_name(catalog_path.name + ".backups")


def backups(catalog_path: Path) -> list[Path]:
    """The catalog's backups, newest first (by the time in their names)."""
    try:
        entries = list(folder(catalog_path).iterdir())
    except OSError:
        return []
    found = [(m.group(1), int(m.group(2) or 0), p) for p in entries if (m := _NAME.fullmatch(p.name))]
    return [path for *_, path in sorted(found, reverse=True)]


# ------------------------------------------------------------------- checks
def check(path: Path, *, name: str | None = None) -> CatalogCheck:
    """``path`` is a whole photoface catalog this photoface can open, or a CatalogError naming
    ``name`` (what the user typed; default the path) says why not."""
    shown = name or printable(path)
    _check_header(path, shown)
    try:
        conn = connect_read_only(path)
    except sqlite3.DatabaseError as exc:
        raise CatalogError(f"{shown} cannot be read as a photoface catalog ({exc})") from None
    try:
        return _check_contents(conn, path, shown)
    except sqlite3.DatabaseError as exc:
        raise CatalogError(f"{shown} is damaged ({exc}): choose another backup") from None
    finally:
        conn.close()


def _check_header(path: Path, shown: str) -> None:
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise CatalogError(f"cannot read {shown} ({exc.strerror}): check the path") from None
    if head != SQLITE_MAGIC:
        what = "an empty file" if not head else "not an SQLite database"
        raise CatalogError(f"{shown} is not a photoface catalog ({what})")


def _check_contents(conn: sqlite3.Connection, path: Path, shown: str) -> CatalogCheck:
    problems = [row[0] for row in conn.execute("PRAGMA integrity_check(5)")]
    if problems != ["ok"]:
        raise CatalogError(f"{shown} is damaged (integrity_check: {problems[0]}): choose another backup")
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not {"_sqlite_migrations", "catalog_info", "photos", "faces", "people"} <= tables:
        raise CatalogError(f"{shown} is an SQLite database but not a photoface catalog (no photoface tables)")
    applied = [
        row[0] for row in conn.execute("SELECT name FROM _sqlite_migrations WHERE migration_set = ?", [migrations.name])
    ]
    known = {m.name for m in migrations._migrations}
    newer = [name for name in applied if name not in known]
    if newer:
        raise CatalogError(f"{shown} was written by a newer photoface (migration {newer[0]}): upgrade photoface first")

    def count(sql: str) -> int:
        return conn.execute(sql).fetchone()[0]

    return CatalogCheck(
        path,
        len(applied),
        count("SELECT count(*) FROM photos WHERE status = 'ok'"),
        count("SELECT count(*) FROM faces"),
        count("SELECT count(*) FROM people WHERE name IS NOT NULL"),
    )


def newest_good(catalog_path: Path) -> Path | None:
    """The newest backup that passes the checks (a damaged one is passed over)."""
    for path in backups(catalog_path):
        try:
            check(path)
        except CatalogError as exc:
            log.info("backup passed over: %s", exc)
            continue
        return path
    return None


# ------------------------------------------------------------------ writing
def write(conn: sqlite3.Connection, catalog_path: Path, target: Path | None = None) -> CatalogCheck:
    """Copy the catalog open on ``conn`` to ``target`` (default: a new file in its backups
    folder), check the copy, then prune the oldest automatic backups beyond the number to keep."""
    into = target or _new_name(catalog_path)
    into.parent.mkdir(parents=True, exist_ok=True)
    partial = into.with_name(into.name + _PARTIAL)
    partial.unlink(missing_ok=True)  # left by a copy that was interrupted
    try:
        _copy(conn, partial)
        checked = check(partial, name=f"the copy of {printable(catalog_path)}")
        os.replace(partial, into)
    finally:
        partial.unlink(missing_ok=True)
    if target is None:
        prune(catalog_path, max(config.backups_to_keep(), 1))
    return CatalogCheck(into, checked.schema_version, checked.photos, checked.faces, checked.people_named)


def _copy(conn: sqlite3.Connection, target: Path) -> None:
    """SQLite's online backup in one step: in WAL mode it reads one snapshot while writers go
    on (a stepwise copy would start over at every write of another process)."""
    copy = sqlite3.connect(target)
    try:
        conn.backup(copy)
        # A standalone file: no -wal or -shm beside it, readable from a read-only place.
        copy.execute("PRAGMA journal_mode=DELETE")
    finally:
        copy.close()


def _new_name(catalog_path: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    place = folder(catalog_path)
    # Several in one second (a backup, then a migration) are numbered after the newest of
    # them, even when older ones of that second were pruned, so names keep their order.
    taken = [int(m.group(2) or 1) for p in backups(catalog_path) if (m := _NAME.fullmatch(p.name)) and m[1] == stamp]
    number = max(taken, default=0) + 1
    return place / (f"catalog-{stamp}.db" if number == 1 else f"catalog-{stamp}-{number}.db")


def prune(catalog_path: Path, keep: int) -> list[Path]:
    """Delete the backups older than the newest ``keep``; returns what was deleted."""
    old = backups(catalog_path)[keep:]
    for path in old:
        path.unlink(missing_ok=True)
    return old


def automatic(catalog: Catalog, why: str) -> Path | None:
    """An automatic backup (``why``: for the log); None when they are switched off."""
    if config.backups_to_keep() == 0:
        return None
    made = write(catalog.db.conn, catalog.path)
    log.info("catalog backed up %s: %s", why, made.path)
    return made.path


def daily_due(catalog: Catalog) -> bool:
    """A day since the newest backup, and the catalog changed after it: a few stats, no reads."""
    newest = next(iter(backups(catalog.path)), None)
    if newest is None:
        # Nothing to lose in a catalog without photos or people (a first scan's first write).
        row = catalog.db.execute("SELECT EXISTS (SELECT 1 FROM photos) OR EXISTS (SELECT 1 FROM people)").fetchone()
        return bool(row[0])
    made = _mtime(newest)
    changed = max(_mtime(catalog.path), _mtime(catalog.path.with_name(catalog.path.name + "-wal")))
    return time.time() - made >= DAY_S and changed > made


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


# ------------------------------------------------------------------ restore
def restore(catalog_path: Path, source: Path) -> Restored:
    """Put the catalog in ``source`` in place of the one at ``catalog_path``, after checking it.

    The copy is made and checked first, beside the catalog; only then is the current catalog
    (with its -wal and -shm) moved aside to ``<catalog>.before-restore-<time>``, and the copy
    renamed into place. A failed check changes nothing."""
    from photoface.scan import scan_running

    shown = printable(source)
    if source.resolve() == catalog_path.resolve():
        raise CatalogError(f"{shown} is the catalog itself: restore a backup of it")
    if scan_running(catalog_path):
        raise CatalogError(f"a scan is using {printable(catalog_path)}: let it finish or stop it, then restore")
    checked = check(source, name=shown)
    incoming = catalog_path.with_name(catalog_path.name + ".restoring")
    incoming.unlink(missing_ok=True)
    try:
        source_conn = connect_read_only(source)
        try:
            _copy(source_conn, incoming)
        finally:
            source_conn.close()
        check(incoming, name=shown)
        kept = _move_aside(catalog_path)
        try:
            os.replace(incoming, catalog_path)
        except OSError:
            if kept is not None:  # put the catalog back as it was
                _move_back(kept, catalog_path)
            raise
    finally:
        incoming.unlink(missing_ok=True)
    for suffix in _DERIVED_SUFFIXES:
        catalog_path.with_name(catalog_path.name + suffix).unlink(missing_ok=True)
    return Restored(source, catalog_path, kept, checked)


def _move_aside(catalog_path: Path) -> Path | None:
    """Move the catalog and its journal to ``<catalog>.before-restore-<time>`` (its -wal beside
    it under the matching name, so SQLite still reads the pair as one catalog)."""
    if not catalog_path.exists():
        return None
    base = f"{catalog_path.name}.before-restore-{time.strftime('%Y%m%d-%H%M%S')}"
    aside, number = catalog_path.with_name(base), 1
    while aside.exists():
        number += 1
        aside = catalog_path.with_name(f"{base}-{number}")
    for suffix in ("-wal", "-shm", ""):  # the main file last: a crash between leaves it in place
        current = catalog_path.with_name(catalog_path.name + suffix)
        if current.exists():
            os.replace(current, aside.with_name(aside.name + suffix))
    return aside


def _move_back(aside: Path, catalog_path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        kept = aside.with_name(aside.name + suffix)
        if kept.exists():
            os.replace(kept, catalog_path.with_name(catalog_path.name + suffix))


# --------------------------------------------------------------- messages
def damaged(catalog_path: Path, detail: str) -> str:
    """One line for a catalog SQLite cannot read: the newest good backup and the command that
    puts it back, or, with none, what else to do."""
    shown = printable(catalog_path)
    start = f"{shown} is not a usable photoface catalog ({detail})"
    good = newest_good(catalog_path)
    if good is None:
        return (
            f"{start} and there is no good backup in {printable(folder(catalog_path))}: "
            f"pass another --db, or recover what SQLite can with: sqlite3 {shown} .recover"
        )
    command = f"photoface --db {shown} restore {printable(good)}"
    return f"{start}: it is damaged; put back the newest good backup with: {command}"


# ----------------------------------------------------------- for the CLI
def now(catalog: Catalog, target: Path | None = None) -> CatalogCheck:
    """``photoface backup``: a copy now, to ``target`` (a new file) or the backups folder."""
    if target is not None and target.exists():
        raise CatalogError(f"{printable(target)} exists: give a new file name (a backup never overwrites)")
    into = target or folder(catalog.path)
    try:
        return write(catalog.db.conn, catalog.path, target)
    except (sqlite3.OperationalError, OSError) as exc:
        detail = getattr(exc, "strerror", None) or str(exc)
        raise CatalogError(f"cannot write the backup in {printable(into)} ({detail}): choose another FILE") from None


def put_back(catalog_path: Path, source: Path) -> Restored:
    """``photoface restore``: as ``restore``, with the machine's refusals as one line."""
    try:
        return restore(catalog_path, source)
    except (sqlite3.OperationalError, OSError) as exc:
        detail = getattr(exc, "strerror", None) or str(exc)
        raise CatalogError(
            f"cannot restore {printable(source)} as {printable(catalog_path)} ({detail}): "
            "make the catalog's folder writable; the catalog is as it was"
        ) from None
