"""``python -m photoface`` runs the CLI."""

from photoface.cli import app

app(prog_name="photoface")
