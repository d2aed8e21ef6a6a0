"""Every command explains itself with an example, the README's table lists it, and
docs/cli.md documents it with every --json field."""

import re
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from photoface.cli import app

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()
CLI_DOC = (REPO / "docs" / "cli.md").read_text()
COMMANDS = sorted(get_command(app).commands)
# The README's "Commands" table: its rows, from the header to the first line that is not one.
_TABLE = README.split("## Commands", 1)[1].split("| command |", 1)[1]
README_TABLE = "\n".join(line for line in _TABLE.split("\n\n", 1)[0].splitlines() if line.startswith("|"))

# Every field name of a --json output documented when the reference moved out of the README
# (scan, regions import/export, add-face, status, faces, people, cluster, suggest, identify,
# detect): docs/cli.md keeps naming each.
JSON_FIELDS = [
    "already",
    "assigned",
    "attached",
    "born",
    "box",
    "changed",
    "clusters",
    "conflicts",
    "copy_of",
    "created",
    "current",
    "db",
    "detected",
    "detections",
    "distance",
    "dry_run",
    "duplicates",
    "embedding",
    "end",
    "error",
    "face",
    "faces",
    "failed",
    "failures",
    "found_in_region",
    "frame",
    "hidden",
    "id",
    "ignored",
    "interrupted",
    "kind",
    "landmarks",
    "last_scan",
    "learned",
    "left",
    "live_clips",
    "made_from_box",
    "merges",
    "mode",
    "model",
    "models",
    "moved",
    "name",
    "named",
    "near_duplicates",
    "new",
    "new_faces",
    "new_people",
    "origin",
    "other",
    "other_name",
    "path",
    "people",
    "people_named",
    "people_unnamed",
    "person",
    "photo",
    "photos",
    "photos_without_faces",
    "pid",
    "provider",
    "regions",
    "removed",
    "sample",
    "schema_version",
    "score",
    "seconds",
    "size",
    "skipped",
    "start",
    "status",
    "still_failed",
    "stop_reason",
    "too_small",
    "unassigned",
    "unassigned_faces",
    "unchanged",
    "unmatched",
    "videos",
    "warnings",
    "written",
]


@pytest.mark.parametrize("name", COMMANDS)
def test_command_help_has_an_example(name):
    help_text = get_command(app).commands[name].help or ""
    assert "Example:" in help_text


@pytest.mark.parametrize("name", COMMANDS)
def test_command_is_in_the_readme_table(name):
    assert f"`photoface {name}" in README_TABLE


@pytest.mark.parametrize("name", COMMANDS)
def test_command_is_in_the_cli_reference(name):
    assert f"`photoface {name}" in CLI_DOC


@pytest.mark.parametrize("field", JSON_FIELDS)
def test_json_field_is_in_the_cli_reference(field):
    json_part = CLI_DOC.split("## JSON for scripts", 1)[1].split("\n## ", 1)[0]
    assert f"`{field}`" in json_part


@pytest.mark.parametrize("name", [None, *COMMANDS])
def test_help_shows_every_option_text_whole(name):
    """A help text's bracketed words ("[default: ...]") are shown, not eaten as markup."""
    command = get_command(app) if name is None else get_command(app).commands[name]
    args = ["--help"] if name is None else [name, "--help"]
    shown = " ".join(CliRunner().invoke(app, args, terminal_width=200).output.split())
    for param in command.params:
        if getattr(param, "help", None):
            assert " ".join(param.help.split()) in shown, param.name


@pytest.mark.parametrize("doc", ["README.md", "docs/cli.md", "docs/how-it-works.md"])
def test_relative_links_point_to_files(doc):
    path = REPO / doc
    links = re.findall(r"\]\(([^)\s]+)\)", path.read_text())
    assert links
    missing = [link for link in links if "://" not in link and not (path.parent / link.split("#")[0]).exists()]
    assert missing == []
