"""How long commands that run no model take, side by side with an older checkout.

Each command runs as a user runs it (a new ``python -m photoface`` process), ``--repeat`` times,
alternating between this tree and the baseline tree so both see the same machine state; the
table shows the median wall time and the median CPU time (user + system of the process and its
children: on a machine other jobs share, the steadier of the two) and their ratios.

    git worktree add /tmp/before <commit>
    python -m benchmarks.command_start --db grown.db --baseline /tmp/before [--baseline-db grown-old.db]

``--baseline-db``: a copy of the catalog at the baseline's schema, where this tree has migrated
the catalog since (an older photoface refuses a newer catalog).

A 100,000-face catalog comes from ``benchmarks.serve_speed`` (``build_catalog``).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.common import write_result

REPO = Path(__file__).resolve().parent.parent
COMMANDS = (("status",), ("people",), ("find", "Nobody"), ("--version",))


def timed(tree: Path, db: Path, args: tuple[str, ...]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "photoface", "--db", str(db), *args], cwd=tree, env=env, capture_output=True, check=False
    )
    if done.returncode != (1 if args[0] == "find" else 0):  # find Nobody: 1, nobody by that name
        raise SystemExit(f"photoface {' '.join(args)} failed in {tree}: {done.stderr.decode()[-300:]}")
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(args: argparse.Namespace, command: tuple[str, ...]) -> dict:
    """Median wall and CPU seconds of ``command`` in both trees, runs alternating."""
    runs: dict[str, list[tuple[float, float]]] = {"before": [], "now": []}
    for _ in range(args.repeat):
        runs["before"].append(timed(args.baseline, args.baseline_db or args.db, command))
        runs["now"].append(timed(REPO, args.db, command))
    medians = {
        side: {"wall": statistics.median(w for w, _ in times), "cpu": statistics.median(c for _, c in times)}
        for side, times in runs.items()
    }
    return {"command": " ".join(command), **medians}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, required=True, help="the catalog to run the commands on")
    parser.add_argument("--baseline", type=Path, required=True, help="a checkout of the code to compare with")
    parser.add_argument("--baseline-db", type=Path, help="the catalog for the baseline [default: --db]")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--commands", nargs="+", help="only these commands, each quoted (e.g. 'find Nobody') [default: all four]"
    )
    args = parser.parse_args()
    commands = [tuple(text.split()) for text in args.commands] if args.commands else COMMANDS
    rows = [measure(args, command) for command in commands]
    table = Table(title=f"commands without a model on {args.db.name} (medians of {args.repeat})")
    for column in ("command", "wall before", "wall now", "now / before", "CPU before", "CPU now", "now / before"):
        table.add_column(column, justify="right")
    for row in rows:
        cells = [f"photoface {row['command']}"]
        for kind in ("wall", "cpu"):
            before, now = row["before"][kind], row["now"][kind]
            cells += [f"{before:.2f} s", f"{now:.2f} s", f"{now / before:.2f}"]
        table.add_row(*cells)
    console = Console(width=120)
    console.print(table)
    console.print(f"wrote {write_result('command_start', {'db': args.db.name, 'repeat': args.repeat, 'runs': rows})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
