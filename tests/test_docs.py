"""Every command explains itself with an example, and the README documents it."""

from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from photoface.cli import app

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
COMMANDS = sorted(get_command(app).commands)


@pytest.mark.parametrize("name", COMMANDS)
def test_command_help_has_an_example(name):
    help_text = get_command(app).commands[name].help or ""
    assert "Example:" in help_text


@pytest.mark.parametrize("name", COMMANDS)
def test_command_is_in_the_readme(name):
    assert f"photoface {name}" in README


@pytest.mark.parametrize("name", [None, *COMMANDS])
def test_help_shows_every_option_text_whole(name):
    """A help text's bracketed words ("[default: ...]") are shown, not eaten as markup."""
    command = get_command(app) if name is None else get_command(app).commands[name]
    args = ["--help"] if name is None else [name, "--help"]
    shown = " ".join(CliRunner().invoke(app, args, terminal_width=200).output.split())
    for param in command.params:
        if getattr(param, "help", None):
            assert " ".join(param.help.split()) in shown, param.name
