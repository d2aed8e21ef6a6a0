"""Every command explains itself with an example, and the README documents it."""

from pathlib import Path

import pytest
from typer.main import get_command

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
