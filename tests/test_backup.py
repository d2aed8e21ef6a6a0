"""A catalog you can always get back: backups beside it, damaged catalogs named with the backup
that restores them, restore's checks, and a catalog on a read-only drive (photoface/backup.py).

Real catalogs: fivecelebs' validation photos scanned, clustered and named with the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sqlite_utils
from conftest import REPO, run_photoface

from photoface import backup
from photoface.catalog import SCHEMA_VERSION, Catalog, migrations
from photoface.errors import CatalogError, PhotofaceError

NAME = "Alice Example"


def _cli(db: Path, *args: str | Path):
    return run_photoface("--db", db, *args, timeout=300)


def _names(db: Path) -> set[str]:
    done = _cli(db, "people", "--json")
    assert done.returncode == 0, done.stderr
    return {person["name"] for person in done.json() if person["name"]}


def _integrity(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


@pytest.fixture(scope="module")
def named(fivecelebs, tmp_path_factory) -> Path:
    """A catalog of fivecelebs' validation photos, clustered, with one person named."""
    db = tmp_path_factory.mktemp("named") / "catalog.db"
    assert _cli(db, "scan", fivecelebs / "val").returncode == 0
    assert _cli(db, "cluster").returncode == 0
    person = _cli(db, "people", "--json").json()[0]["id"]
    assert _cli(db, "name", str(person), NAME).returncode == 0
    return db


@pytest.fixture
def db(named, tmp_path) -> Path:
    """A copy of the named catalog, alone in its folder (no backups yet)."""
    target = tmp_path / "lib" / "catalog.db"
    target.parent.mkdir()
    with sqlite3.connect(named) as source, sqlite3.connect(target) as copy:
        source.backup(copy)
    return target


def _backup_now(db: Path) -> Path:
    done = _cli(db, "backup")
    assert done.returncode == 0, done.stderr
    newest = backup.backups(db)[0]
    assert str(newest) in done.stdout and "1 person named" in done.stdout
    return newest


def _damage_line(db: Path, command: str = "people") -> str:
    done = _cli(db, command)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def _restore_from_line(db: Path, line: str, newest: Path) -> None:
    """Run the restore command the error line gives, as a user would paste it."""
    assert line.endswith(f"photoface --db {db} restore {newest}")
    done = _cli(db, "restore", newest)
    assert done.returncode == 0, done.stderr
    assert "the face index is rebuilt" in done.stdout
    assert NAME in _names(db)
    assert _integrity(db) == "ok"


# ------------------------------------------------------------ damaged catalogs
def test_a_catalog_truncated_in_the_middle_names_the_newest_backup_and_restore_brings_names_back(db):
    older = _backup_now(db)
    newest = _backup_now(db)
    assert backup.backups(db) == [newest, older]
    damaged = db.read_bytes()[: db.stat().st_size // 2]
    db.write_bytes(damaged)
    line = _damage_line(db)
    assert "truncated" in line and "is damaged" in line and str(newest) in line
    _restore_from_line(db, line, newest)
    # The damaged catalog is kept, not deleted.
    (kept,) = db.parent.glob("catalog.db.before-restore-*")
    assert kept.read_bytes() == damaged


def test_a_catalog_overwritten_with_zeros_names_the_backup_and_is_restored(db):
    newest = _backup_now(db)
    db.write_bytes(bytes(db.stat().st_size))
    line = _damage_line(db, "status")
    assert "file is not a database" in line and str(newest) in line
    _restore_from_line(db, line, newest)


def test_zeros_over_every_page_but_the_first_is_the_same_one_line(db):
    newest = _backup_now(db)
    with sqlite3.connect(db) as conn:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
    data = db.read_bytes()
    db.write_bytes(data[:page] + bytes(len(data) - page))  # the schema is there, the tables are gone
    line = _damage_line(db, "people")
    assert "malformed" in line and str(newest) in line
    _restore_from_line(db, line, newest)


def test_a_damaged_backup_is_passed_over_for_the_next_good_one(db):
    good = _backup_now(db)
    bad = _backup_now(db)
    bad.write_bytes(bad.read_bytes()[:2048])
    db.write_bytes(bytes(4096))
    assert str(good) in _damage_line(db)


def test_an_emptied_catalog_with_backups_is_damage_not_a_new_catalog(db):
    newest = _backup_now(db)
    db.write_bytes(b"")
    line = _damage_line(db, "status")
    assert "an empty file" in line and str(newest) in line
    assert db.stat().st_size == 0  # not taken for a new catalog and migrated


def test_a_damaged_catalog_without_backups_says_what_else_to_do(db):
    db.write_bytes(bytes(8192))
    line = _damage_line(db)
    assert "no good backup" in line and ".recover" in line


def test_a_deleted_catalog_names_its_backup(db):
    newest = _backup_now(db)
    db.unlink()
    line = _damage_line(db, "people")
    assert line == f"error: no catalog at {db}, but it has backups: put back the newest with: " + (
        f"photoface --db {db} restore {newest}"
    )
    done = _cli(db, "restore", newest)
    assert done.returncode == 0 and "there was no catalog" in done.stdout
    assert NAME in _names(db)


# --------------------------------------------------------------------- restore
@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("text", "is not a photoface catalog (not an SQLite database)"),
        ("empty", "is not a photoface catalog (an empty file)"),
        ("sqlite", "is an SQLite database but not a photoface catalog"),
        ("newer", "was written by a newer photoface (migration m999_future)"),
        ("missing", "No such file or directory"),
    ],
)
def test_restore_refuses_what_is_not_a_catalog_it_can_use_and_changes_nothing(db, tmp_path, content, said):
    source = tmp_path / "offered.db"
    if content == "text":
        source.write_text("not a catalog\n" * 100)
    elif content == "empty":
        source.write_bytes(b"")
    elif content == "sqlite":
        with sqlite3.connect(source) as conn:
            conn.execute("CREATE TABLE notes (text)")
    elif content == "newer":
        shutil.copy(db, source)
        with sqlite3.connect(source) as conn:
            conn.execute(
                "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES (?, 'm999_future', 'x')",
                [migrations.name],
            )
    before = sorted(os.listdir(db.parent)), db.read_bytes()
    done = _cli(db, "restore", source)
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert str(source) in done.stderr and said in done.stderr
    assert (sorted(os.listdir(db.parent)), db.read_bytes()) == before


def test_restore_of_a_good_copy_keeps_the_catalog_it_replaces_with_its_journal(db, tmp_path):
    copy = tmp_path / "copy.db"
    assert _cli(db, "backup", copy).returncode == 0
    assert _cli(db, "unname", NAME).returncode == 0
    # A second program holds the catalog open (its -wal and -shm exist) until the restore starts.
    with Catalog.open(db) as open_one:
        open_one.face_count()
        index = db.with_name(db.name + ".faces.json")
        index.write_text("{}")
        done = _cli(db, "restore", copy)
    assert done.returncode == 0, done.stderr
    assert NAME in _names(db) and _integrity(db) == "ok"
    assert not index.exists()  # the face index described the other catalog
    (kept,) = db.parent.glob("catalog.db.before-restore-*[0-9]")
    assert NAME not in {row[0] for row in sqlite3.connect(kept).execute("SELECT name FROM people")}


def test_backup_to_a_file_never_overwrites(db, tmp_path):
    taken = tmp_path / "taken.db"
    taken.write_text("mine")
    done = _cli(db, "backup", taken)
    assert done.returncode == 1 and f"{taken} exists" in done.stderr
    assert taken.read_text() == "mine"


# -------------------------------------------------------- automatic backups
def _people(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM people WHERE name IS NOT NULL")}


def test_only_the_newest_backups_are_kept(db, monkeypatch):
    monkeypatch.setenv("PHOTOFACE_BACKUPS", "2")
    with Catalog.open(db) as catalog:
        made = [backup.write(catalog.db.conn, db).path for _ in range(4)]
    assert backup.backups(db) == made[:1:-1]  # the last two, newest first
    assert all(_integrity(path) == "ok" and NAME in _people(path) for path in made[2:])


def test_a_backup_is_made_before_a_migration(tmp_path):
    path = tmp_path / "old.db"
    last = migrations._migrations[-1].name
    with sqlite3.connect(path) as conn:
        old = sqlite_utils.Database(conn)
        migrations.apply(old, stop_before=last)  # the catalog as the previous photoface left it
        conn.execute("INSERT INTO people (name, created_at) VALUES (?, 'x')", [NAME])
    with Catalog.open(path) as catalog:
        assert catalog.schema_version == SCHEMA_VERSION
    (made,) = backup.backups(path)
    check = backup.check(made)
    assert check.schema_version == SCHEMA_VERSION - 1 and check.people_named == 1


def test_a_daily_backup_comes_with_the_first_write_of_a_day_and_never_with_reads(db):
    def write_something(catalog: Catalog) -> None:
        with catalog.transaction():
            catalog.db.execute("UPDATE people SET hidden = hidden")

    with Catalog.open(db) as catalog:  # no backup yet, and photos in it: the first write makes one
        write_something(catalog)
        write_something(catalog)
    (first,) = backup.backups(db)
    with Catalog.open(db) as catalog:  # the next one is less than a day old: none
        write_something(catalog)
    assert backup.backups(db) == [first]
    two_days_ago = time.time() - 2 * backup.DAY_S
    os.utime(first, (two_days_ago, two_days_ago))
    with Catalog.open(db) as catalog:  # due, but only read: none
        catalog.people()
    assert backup.backups(db) == [first]
    with Catalog.open(db) as catalog:
        write_something(catalog)
    assert len(backup.backups(db)) == 2


def test_backups_can_be_switched_off_and_a_bad_setting_is_named(db, monkeypatch):
    monkeypatch.setenv("PHOTOFACE_BACKUPS", "0")
    with Catalog.open(db) as catalog, catalog.transaction():
        pass
    assert backup.backups(db) == []
    monkeypatch.setenv("PHOTOFACE_BACKUPS", "many")
    with Catalog.open(db) as catalog, pytest.raises(PhotofaceError, match="PHOTOFACE_BACKUPS='many'"):
        backup.automatic(catalog, "test")


# ----------------------------------------------------------- read-only drives
READ_ONLY_DRIVER = """
import json, subprocess, sys, urllib.request, http.cookiejar
db = sys.argv[1]
def cli(*args):
    done = subprocess.run([sys.executable, "-m", "photoface", "--db", db, *args], capture_output=True, text=True)
    return {"rc": done.returncode, "out": done.stdout, "err": done.stderr}
result = {
    "status": cli("status", "--json"), "people": cli("people", "--json"), "faces": cli("faces", "--json"),
    "find": cli("find", sys.argv[2]), "name": cli("name", "1", "Bob"), "cluster": cli("cluster"),
    "report": cli("report", "-o", sys.argv[3]), "backup": cli("backup", sys.argv[4]), "scan": cli("scan", sys.argv[5]),
}
server = subprocess.Popen([sys.executable, "-m", "photoface", "--db", db, "serve", "--port", "0"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
try:
    url = next(line.strip() for line in server.stdout if line.startswith("http"))
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    result["serve"] = json.loads(opener.open(url + "&format=json", timeout=60).read())
    result["review"] = opener.open(url.split("?")[0] + "review", timeout=60).status
finally:
    server.terminate()
    result["serve_err"] = server.communicate(timeout=30)[1]
print(json.dumps(result))
"""


def _read_only_mount_works(tmp_path: Path) -> bool:
    """Mount namespaces (root, or a container that allows them): a real read-only bind mount."""
    if shutil.which("unshare") is None:
        return False
    (tmp_path / "probe").mkdir()
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", _ro_mount(tmp_path, tmp_path / "probe") + "true"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


def _ro_mount(source: Path, target: Path) -> str:
    return f"mount --bind '{source}' '{target}' && mount -o remount,bind,ro '{target}' && "


def test_a_catalog_on_a_read_only_drive_is_served_and_listed(db, tmp_path, fivecelebs):
    if not _read_only_mount_works(tmp_path):
        pytest.skip("no mount namespace here (unshare -m): a read-only drive cannot be made")
    with Catalog.open(db) as catalog:  # cleanly closed, as a catalog on a drive is: no -wal, no -shm
        catalog.stats()
    assert sorted(p.name for p in db.parent.iterdir() if p.name.startswith("catalog.db-")) == []
    drive = tmp_path / "drive"
    drive.mkdir()
    driver = tmp_path / "driver.py"
    driver.write_text(textwrap.dedent(READ_ONLY_DRIVER))
    before = {p.name: p.read_bytes() for p in db.parent.iterdir() if p.is_file()}
    command = _ro_mount(db.parent, drive) + (
        f"cd '{REPO}' && TMPDIR='{tmp_path}' '{sys.executable}' '{driver}' '{drive / db.name}' '{NAME}' "
        f"'{tmp_path / 'report'}' '{tmp_path / 'copy.db'}' '{fivecelebs / 'val'}'"
    )
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", command],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    for command in ("status", "people", "faces", "find", "report", "backup"):
        assert result[command]["rc"] == 0, (command, result[command]["err"])
    assert json.loads(result["status"]["out"])["photos"] == 25
    assert NAME in {p["name"] for p in json.loads(result["people"]["out"])}
    assert result["find"]["out"].count("\n") >= 1
    assert NAME in {p["name"] for p in result["serve"]["people"]}
    assert result["review"] == 200 and "Traceback" not in result["serve_err"]
    for refused in ("name", "cluster"):
        assert result[refused]["rc"] == 1
        assert result[refused]["err"].strip().splitlines() == [
            f"error: the catalog {drive / db.name} is read-only (its drive, folder or file cannot be written), "
            "and this changes it: make it writable, or copy it somewhere writable and pass --db"
        ]
    # A scan writes from its first step: refused before it analyses anything.
    assert result["scan"]["rc"] == 1 and result["scan"]["err"].startswith(f"error: cannot open the catalog {drive}")
    assert "read-only" in result["scan"]["err"]
    assert NAME in _people(tmp_path / "copy.db")
    assert {p.name: p.read_bytes() for p in db.parent.iterdir() if p.is_file()} == before


def test_read_only_open_refuses_writes_in_the_library(db, monkeypatch):
    """The same path without a mount: the place reported unwritable, as access() says on EROFS."""
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: mode != os.W_OK and real_access(path, mode))
    with Catalog.open(db, create=False) as catalog:
        assert catalog.read_only and NAME in {p["name"] for p in catalog.people()}
        with pytest.raises(CatalogError, match="is read-only"):
            catalog.transaction().__enter__()
