"""How photoface writes text: plain and unwrapped off a terminal, plurals right, usage errors in one line."""

from __future__ import annotations

import sys

import typer
from rich.console import Console, ConsoleDimensions
from typer.core import TyperGroup

USAGE = 2  # click's exit code for wrong usage
UNWRAPPED = 1_000_000  # the width of a pipe or a file: lines and table cells are never wrapped


class PlainWhenPiped(Console):
    """A rich console that takes its width from the terminal only when it writes to one: piped
    into a file or another program, lines and tables are never wrapped (and, as rich does off a
    terminal, carry no colour codes), whatever size the terminal beside it has."""

    @property
    def size(self) -> ConsoleDimensions:
        if self.is_terminal:
            return super().size
        return ConsoleDimensions(UNWRAPPED, super().size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 face``, ``2 faces``, ``1 person``, ``3 people`` (``many``: an irregular plural)."""
    return f"{count} {word if count == 1 else many or word + 's'}"


class OneLineUsage(TyperGroup):
    """The app's group: a command's usage error (a face id that is not a number, a missing
    argument, an unknown option) is one line on stderr naming it and where the help is, still
    exit 2; a bare command still shows its help. Duck-typed: typer vendors click in newer versions."""

    def invoke(self, ctx: typer.Context) -> object:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            _one_line(exc)
            raise

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except Exception as exc:
            _one_line(exc)
            raise


def _one_line(exc: Exception) -> None:
    """Make a usage error show itself as one line (help for a bare command stays as it is)."""
    if getattr(exc, "exit_code", None) != USAGE or type(exc).__name__ == "NoArgsIsHelpError":
        return
    if not callable(getattr(exc, "format_message", None)):
        return
    context = getattr(exc, "ctx", None)
    command = context.command_path if context is not None else "photoface"
    line = f"error: {exc.format_message().rstrip('.')}: see '{command} --help'"
    exc.show = lambda file=None: print(line, file=file or sys.stderr)
