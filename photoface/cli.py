"""The ``photoface`` command: parse, call the library, print. No logic of its own."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from photoface import __version__, config
from photoface.engine.session import DEVICES
from photoface.errors import ImageLoadError, PhotofaceError

app = typer.Typer(
    help="Find every face in your photos, group them into people, name and search them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

# Exit codes, documented in the README.
EXIT_OK, EXIT_ERROR, EXIT_PARTIAL = 0, 1, 3


class State:
    debug = False


def _version(value: bool) -> None:
    if value:
        out.print(f"photoface {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and engine log lines.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """photoface: local, private face clustering for photo libraries."""
    State.debug = debug
    if debug:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")


def fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def run_guarded(action):
    """Run ``action``; a PhotofaceError becomes one line on stderr (a traceback with --debug)."""
    try:
        return action()
    except PhotofaceError as exc:
        if State.debug:
            raise
        raise fail(str(exc)) from None


@app.command()
def detect(
    photos: Annotated[list[Path], typer.Argument(help="Photo files to analyse.", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    device: Annotated[str, typer.Option(help=f"Where the models run: {', '.join(DEVICES)}.")] = "auto",
    min_face: Annotated[
        int, typer.Option(help="Smallest face to find, in pixels of the detection image.", min=12)
    ] = config.MIN_FACE,
    max_side: Annotated[
        int, typer.Option(help="Detect on a copy at most this many pixels on its longer side.", min=64)
    ] = config.MAX_DETECTION_SIDE,
) -> None:
    """Find the faces in PHOTOS and print their boxes and scores (nothing is stored).

    Example: photoface detect party.jpg --json
    """
    from photoface.engine import FaceEngine

    engine = run_guarded(lambda: FaceEngine(device=device, min_face=min_face, max_side=max_side))
    results, failed = [], 0
    for analysis in engine.analyze_many(photos):
        if analysis.error is not None:
            failed += 1
            err.print(f"[yellow]skipped:[/yellow] {analysis.error}", highlight=False, soft_wrap=True)
            continue
        results.append(
            {
                "photo": str(Path(analysis.source).resolve()),
                "faces": [
                    {
                        "box": [round(v, 1) for v in face.box],
                        "score": round(face.score, 4),
                        "landmarks": face.landmarks.round(1).tolist(),
                    }
                    for face in analysis.faces
                ],
            }
        )
    if as_json:
        out.print_json(json.dumps(results))
    else:
        _print_detections(results, engine.provider)
    if failed:
        raise typer.Exit(EXIT_PARTIAL if results else EXIT_ERROR)


def _print_detections(results: list[dict], provider: str) -> None:
    table = Table(title=f"faces found (on {provider})")
    for column in ("photo", "face", "box x, y, w, h", "score"):
        table.add_column(column)
    for result in results:
        if not result["faces"]:
            table.add_row(result["photo"], "-", "no face", "")
        for number, face in enumerate(result["faces"], 1):
            table.add_row(
                result["photo"] if number == 1 else "",
                str(number),
                ", ".join(f"{v:.0f}" for v in face["box"]),
                f"{face['score']:.3f}",
            )
    out.print(table)


__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_PARTIAL", "ImageLoadError", "app"]
