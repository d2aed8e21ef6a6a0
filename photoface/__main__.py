"""``python -m photoface`` runs the CLI."""

from photoface.cli import run

run(prog_name="photoface")
