"""How long commands that run no model take, side by side with an older checkout.

Each command runs as a user runs it (a new ``python -m photoface`` process), ``--repeat`` times,
alternating between this tree and the baseline tree so both see the same machine state; the
table shows the median and best wall times and their ratio.

    git worktree add /tmp/before <commit>
    python -m benchmarks.command_start --db grown.db --baseline /tmp/before [--baseline-db grown-old.db]

``--baseline-db``: a copy of the catalog at the baseline's schema, where this tree has migrated
the catalog since (an older photoface refuses a newer catalog).

A 100,000-face catalog comes from ``benchmarks.serve_speed`` (``build_catalog``).
"""

from __future__ import annotations

import argparse
import os
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


def timed(tree: Path, db: Path, args: tuple[str, ...]) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "photoface", "--db", str(db), *args], cwd=tree, env=env, capture_output=True, check=False
    )
    if done.returncode not in (0, 1):  # find Nobody: 1, nobody by that name
        raise SystemExit(f"photoface {' '.join(args)} failed in {tree}: {done.stderr.decode()[-300:]}")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, required=True, help="the catalog to run the commands on")
    parser.add_argument("--baseline", type=Path, required=True, help="a checkout of the code to compare with")
    parser.add_argument("--baseline-db", type=Path, help="the catalog for the baseline [default: --db]")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rows = []
    for command in COMMANDS:
        times: dict[str, list[float]] = {"before": [], "now": []}
        for _ in range(args.repeat):
            times["before"].append(timed(args.baseline, args.baseline_db or args.db, command))
            times["now"].append(timed(REPO, args.db, command))
        rows.append(
            {
                "command": " ".join(command),
                **{k: {"median": statistics.median(v), "best": min(v)} for k, v in times.items()},
            }
        )
    table = Table(title=f"commands without a model on {args.db.name} (median of {args.repeat}, best)")
    for column in ("command", "before", "now", "now / before"):
        table.add_column(column, justify="right")
    for row in rows:
        before, now = row["before"], row["now"]
        table.add_row(
            f"photoface {row['command']}",
            f"{before['median']:.2f} s ({before['best']:.2f})",
            f"{now['median']:.2f} s ({now['best']:.2f})",
            f"{now['median'] / before['median']:.2f}",
        )
    console = Console(width=120)
    console.print(table)
    console.print(f"wrote {write_result('command_start', {'db': args.db.name, 'repeat': args.repeat, 'runs': rows})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
