"""A new user's first hour: piped output, names everywhere, empty answers, which face was
looked for, catalogs that are not made by mistake, and exit codes that say what happened."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from photoface.cli import EXIT_ERROR, EXIT_NOTHING_FOUND, EXIT_PARTIAL, app
from photoface.console import PlainWhenPiped, plural

runner = CliRunner()


def cli(db: Path, *args: str | Path):
    return runner.invoke(app, ["--db", str(db), *map(str, args)])


def piped(db: Path, *args: str | Path) -> subprocess.CompletedProcess:
    """The real CLI with stdout and stderr piped, beside an 80-column terminal."""
    env = {**os.environ, "COLUMNS": "80"}
    return subprocess.run(
        [sys.executable, "-m", "photoface", "--db", str(db), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )


@pytest.fixture(scope="module")
def library(tmp_path_factory, fivecelebs) -> dict:
    """fivecelebs scanned and clustered; the people holding Madonna's and Elton John's photos
    named, Ben Affleck's left unnamed."""
    db = tmp_path_factory.mktemp("edges") / "catalog.db"
    assert cli(db, "scan", fivecelebs).exit_code == 0
    clustered = cli(db, "cluster")
    assert clustered.exit_code == 0, clustered.output
    folders: dict[str, Counter] = {}
    for face in json.loads(cli(db, "faces", "--json").stdout):
        if face["person"] is not None:
            folders.setdefault(Path(face["photo"]).parent.name, Counter())[face["person"]] += 1
    ids = {folder: counts.most_common(1)[0][0] for folder, counts in folders.items()}
    for name in ("Madonna", "Elton John"):
        assert cli(db, "name", ids[name], name).exit_code == 0
    return {"db": db, "ids": ids, "cluster_output": clustered.stdout, "photos": fivecelebs}


@pytest.fixture
def scratch(library, tmp_path) -> Path:
    """A copy of the library's catalog to change."""
    copy = tmp_path / "scratch" / "catalog.db"
    copy.parent.mkdir()
    assert cli(library["db"], "backup", copy).exit_code == 0
    return copy


# 1. Plain text off a terminal, plurals right.


def test_plural_is_right_for_one_and_many():
    assert [plural(1, "face"), plural(2, "face"), plural(0, "face")] == ["1 face", "2 faces", "0 faces"]
    assert [plural(1, "person", "people"), plural(3, "person", "people")] == ["1 person", "3 people"]


def test_piped_lines_and_tables_are_never_wrapped_nor_coloured(library):
    scanned = piped(library["db"], "scan", library["photos"] / "val")
    assert scanned.returncode == 0, scanned.stderr
    summary = scanned.stdout.splitlines()[0]
    assert "0 moved, 0 removed, 0 duplicates, 0 failed; 0 faces found" in summary
    people = piped(library["db"], "people")
    assert people.returncode == 0, people.stderr
    for output in (scanned.stdout, scanned.stderr, people.stdout, people.stderr):
        assert "\x1b[" not in output
    sample = next(line for line in people.stdout.splitlines() if "Madonna" in line)
    assert "/fivecelebs/" in sample and sample.rstrip().endswith("│")  # the whole path on one line
    assert max(len(line) for line in people.stdout.splitlines()) > 80


def test_a_terminal_gives_its_width():
    console = PlainWhenPiped(force_terminal=True, width=50)
    assert console.width == 50
    with open(os.devnull, "w") as pipe:
        assert PlainWhenPiped(file=pipe).width > 10_000


# 2. Names wherever a person is expected; messages name people.


def test_faces_takes_a_name(library):
    result = cli(library["db"], "faces", "--person", "madonna", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found and {face["name"] for face in found} == {"Madonna"}


def test_a_mistyped_name_is_one_line_with_a_suggestion(library):
    result = cli(library["db"], "faces", "--person", "Madona")
    assert result.exit_code == EXIT_ERROR
    assert result.stderr.strip() == "error: no person named 'Madona': did you mean 'Madonna'?"


def test_confirm_names_the_person(scratch, library):
    face = json.loads(cli(scratch, "faces", "--person", "Madonna", "--json").stdout)[0]["id"]
    result = cli(scratch, "confirm", face, "Madonna")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"1 face confirmed as person {library['ids']['Madonna']} (Madonna)"


def test_naming_with_a_taken_name_says_it_merged(scratch, library):
    ben = library["ids"]["Ben Affleck"]
    result = cli(scratch, "name", ben, "Madonna", "--yes")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        f"merged person {ben} into person {library['ids']['Madonna']} (Madonna): the name was taken"
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["move", "abc", "1"], "error: Invalid value for 'face': "),
        (["merge", "1"], "error: Missing argument 'others': see '"),
        (["people", "--bogus"], "error: No such option: --bogus: see '"),
        (["nosuch"], "error: No such command 'nosuch': see '"),
    ],
)
def test_wrong_usage_is_one_line_naming_the_help(tmp_path, args, line):
    result = cli(tmp_path / "c.db", *args)  # the test runner calls the program "root"
    assert result.exit_code == 2
    assert result.stderr.startswith(line) and result.stderr.count("\n") == 1
    assert result.stderr.endswith(f"{args[0] if args[0] != 'nosuch' else 'root'} --help'\n")


def test_wrong_usage_of_the_real_program_names_it(tmp_path):
    result = piped(tmp_path / "c.db", "unassign", "x")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: Invalid value for 'faces': ")
    assert result.stderr.endswith(": see 'photoface unassign --help'\n") and result.stderr.count("\n") == 1


def test_a_bare_command_group_still_shows_its_help():
    result = runner.invoke(app, ["regions"])
    assert "Commands" in result.output and "import" in result.output


# 3. Empty answers: a line on stderr and exit 1, like grep; no empty tables.


def test_find_with_no_photo_in_common_says_nothing_found(library):
    result = cli(library["db"], "find", "Madonna", "Elton John")
    assert result.exit_code == EXIT_NOTHING_FOUND == 1
    assert result.stdout == ""
    assert result.stderr.strip() == "nothing found: no photo has Madonna and Elton John"
    as_json = cli(library["db"], "find", "--json", "Madonna", "Elton John")
    assert as_json.exit_code == EXIT_NOTHING_FOUND and json.loads(as_json.stdout) == []


def test_suggest_prints_no_empty_table(library, monkeypatch):
    from photoface import people

    result = cli(library["db"], "suggest", "Madonna")
    assert result.exit_code == 0, result.output
    assert not any(line.strip().startswith("0 ") for line in result.stdout.splitlines())
    monkeypatch.setattr(people, "suggest", lambda *_args, **_kwargs: ([], []))
    empty = cli(library["db"], "suggest", "Madonna")
    assert empty.exit_code == 0 and empty.stdout == "nothing to review for Madonna\n"


def test_detect_of_only_broken_files_prints_no_table(tmp_path):
    broken = tmp_path / "truncated.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 100)
    result = runner.invoke(app, ["detect", str(broken)])
    assert result.exit_code == EXIT_ERROR
    assert result.stdout == "" and str(broken) in result.stderr


def test_identify_of_a_photo_without_faces_says_nothing_found(library):
    photo = library["photos"].parent / "nofaces" / "cat.jpg"
    result = cli(library["db"], "identify", photo)
    assert result.exit_code == EXIT_NOTHING_FOUND
    assert result.stderr.strip() == f"nothing found: no face in {photo}"


# 4. Which face was looked for, and how close; unnamed people are an answer.


def test_find_like_says_which_face_and_how_close(library):
    photo = next((library["photos"] / "val" / "Madonna").glob("*.jpg"))
    result = cli(library["db"], "find", "--like", photo)
    assert result.exit_code == 0, result.output
    assert "the largest of 1 face (box " in result.stderr
    assert f"is person {library['ids']['Madonna']} (Madonna) at distance 0." in result.stderr
    assert result.stdout.splitlines() and all(line.startswith("/") for line in result.stdout.splitlines())


def test_find_like_of_a_stranger_names_the_face_it_tried(library, groups):
    result = cli(library["db"], "find", "--like", groups / "group2.jpg")
    assert result.exit_code == EXIT_ERROR
    assert "nobody in the catalog matches its largest face (box " in result.stderr
    assert result.stderr.count("\n") == 1


def test_identify_matches_unnamed_people(library):
    photo = next((library["photos"] / "val" / "Ben Affleck").glob("*.jpg"))
    found = json.loads(cli(library["db"], "identify", "--json", photo).stdout)
    ben = library["ids"]["Ben Affleck"]
    assert [(face["person"], face["name"]) for face in found] == [(ben, None)]
    text = cli(library["db"], "identify", photo)
    assert f"person {ben}, unnamed" in text.stdout


# 5. No catalog made by mistake, files where they belong, absolute paths, honest exit codes.


@pytest.mark.parametrize(
    "command", [["people"], ["status"], ["faces"], ["find", "Madonna"], ["suggest"], ["show", "1"], ["report"]]
)
def test_commands_that_read_never_create_a_catalog(tmp_path, command, monkeypatch):
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "nonexistent" / "dir" / "catalog.db"
    result = cli(missing, *command)
    assert result.exit_code == EXIT_ERROR
    assert result.stderr.strip() == f"error: no catalog at {missing}: run 'photoface scan DIR' first, or pass --db"
    assert list(tmp_path.iterdir()) == []


def test_show_writes_beside_the_catalog(scratch, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli(scratch, "show", "Madonna")
    assert result.exit_code == 0, result.output
    sheet = Path(result.stdout.strip())
    assert sheet.parent == scratch.parent and sheet.name.startswith("person-") and sheet.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scratch"]


def test_scan_keeps_exit_3_while_failed_files_stay_failed(groups, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(groups / "2008_001322.jpg", folder)
    (folder / "junk.jpg").write_text("not a photo")
    first = runner.invoke(app, ["--db", "relative.db", "scan", "--json", "photos"])
    assert first.exit_code == EXIT_PARTIAL, first.output
    report = json.loads(first.stdout)
    assert report["db"] == str(tmp_path / "relative.db") and report["failed"] == 1
    status = json.loads(runner.invoke(app, ["--db", "relative.db", "status", "--json"]).stdout)
    assert status["db"] == report["db"]
    again = runner.invoke(app, ["--db", "relative.db", "scan", "photos"])
    assert again.exit_code == EXIT_PARTIAL, again.output
    assert "1 file failed in an earlier scan and is still failed: 'photoface status --failed'" in again.stderr
    assert again.stdout.splitlines()[-1] == "next: photoface cluster (groups the faces into people)"
    (folder / "junk.jpg").unlink()
    fixed = runner.invoke(app, ["--db", "relative.db", "scan", "--json", "photos"])
    assert fixed.exit_code == 0, fixed.output
    assert json.loads(fixed.stdout)["still_failed"] == 0


def test_cluster_says_what_comes_next(library):
    assert library["cluster_output"].splitlines()[-1].startswith("next: photoface people, then photoface name")
