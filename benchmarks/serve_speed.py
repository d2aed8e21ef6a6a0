"""``photoface serve`` on a 100,000-face catalog: how long each page's HTML and each review answer take.

The catalog: a scanned LFW catalog's faces, then more made from them by a seeded random rotation
of every embedding (``benchmarks.cluster_scale.populations``: LFW's structure, unrelated people),
on the same photos, to N faces; ``cluster --full``; the largest people named (so the review queue
asks about faces, not only merges). Then the real ``photoface serve`` runs in its own process and
an HTTP client (httpx, keep-alive, as the browser uses the app) asks for every page and answers
review questions. Page times are the HTML only (thumbnails are separate requests, cached on disk).

    python -m benchmarks.serve_speed --db lfw.db [--faces 100000] [--named 200] [--repeat 15]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.cluster_scale import populations
from benchmarks.common import vm_hwm_mb, write_result
from photoface import people
from photoface.catalog import Catalog

PAGE_LIMIT_MS, ANSWER_LIMIT_MS = 200, 100  # the targets


def build_catalog(source: Path, target: Path, faces: int, named: int) -> dict:
    """Copy ``source`` and grow its faces to ``faces`` by rotated copies; cluster; name the largest."""
    shutil.copy(source, target)
    started = time.perf_counter()
    with Catalog.open(target) as catalog:
        rows = catalog.db.execute(
            "SELECT photo_id, x, y, w, h, score, size, landmarks, embedding, model FROM faces ORDER BY id"
        ).fetchall()
        base = np.frombuffer(b"".join(r[8] for r in rows), np.float32).reshape(len(rows), -1)
        vectors, _ = populations(base, np.zeros(len(rows), np.int64), faces)
        extra = [
            (*rows[i % len(rows)][:8], vectors[i].astype(np.float32).tobytes(), rows[i % len(rows)][9])
            for i in range(len(rows), faces)
        ]
        with catalog.transaction():
            catalog.db.conn.executemany(
                "INSERT INTO faces (photo_id, x, y, w, h, score, size, landmarks, embedding, model) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                extra,
            )
        built = time.perf_counter() - started
        report = people.cluster(catalog, full=True)
        for number, person in enumerate(catalog.people()[:named], 1):
            people.name_person(catalog, person["id"], f"Person named {number}")
        total = catalog.face_count()
    return {"faces": total, "people": report.people, "build_s": round(built, 1), "cluster_s": None}


class Server:
    def __init__(self, db: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "photoface", "--db", str(db), "serve", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = ""
        while not line.startswith("http://"):
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                sys.exit(self.process.stderr.read())
        base, _, token = line.strip().partition("/?token=")
        self.client = httpx.Client(base_url=base, timeout=120)
        self.client.get(f"/?token={token}")
        self.csrf = re.search(r'name="csrf-token" content="([^"]+)"', self.client.get("/").text).group(1)

    def timed(self, method: str, url: str, **kwargs) -> tuple[float, httpx.Response]:
        started = time.perf_counter()
        response = self.client.request(method, url, **kwargs)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            sys.exit(f"{url}: {response.status_code} {response.text[:200]}")
        return elapsed, response

    def close(self) -> float | None:
        peak = vm_hwm_mb(self.process.pid)
        self.client.close()
        self.process.terminate()
        self.process.wait(10)
        return peak


def measure(db: Path, repeat: int, answers: int) -> dict:
    server = Server(db)
    try:
        with Catalog.open(db) as catalog:
            everyone = catalog.people()
            largest, middle = everyone[0]["id"], everyone[len(everyone) // 2]["id"]
            photo = catalog.db.execute("SELECT photo_id FROM faces ORDER BY id DESC LIMIT 1").fetchone()[0]
            name = everyone[0]["name"]
        first_review, _ = server.timed("GET", "/review")  # computes the first batch of questions
        pages = {
            "people (unnamed first)": "/",
            "people, named": "/?show=named",
            "people, page 50": "/?page=50",
            f"search {name[:8]!r}": f"/?q={name[:8]}",
            f"person {largest} (largest)": f"/people/{largest}",
            f"person {middle} (median)": f"/people/{middle}",
            "review": "/review",
            "unassigned": "/unassigned",
            f"photo {photo}": f"/photos/{photo}",
        }
        rows = {}
        for label, url in pages.items():
            times = [server.timed("GET", url)[0] for _ in range(repeat)]
            rows[label] = _stats(times)
        answer_times = []
        cycle = ("yes", "no", "skip")
        for number in range(answers):
            question = server.client.get("/review?format=json").json()["question"]
            if question is None:
                break
            elapsed, _ = server.timed(
                "POST",
                "/api/review/answer",
                json={**question, "answer": cycle[number % 3]},
                headers={"X-CSRF-Token": server.csrf},
            )
            answer_times.append(elapsed)
        undo, _ = server.timed("POST", "/api/review/undo", json={}, headers={"X-CSRF-Token": server.csrf})
    finally:
        peak = server.close()
    return {
        "pages_ms": rows,
        "answer_ms": _stats(answer_times),
        "undo_ms": round(undo, 1),
        "first_review_ms": round(first_review, 1),
        "server_peak_rss_mb": round(peak, 1) if peak else None,
    }


def _stats(times: list[float]) -> dict:
    ordered = sorted(times)
    return {
        "median": round(statistics.median(ordered), 1),
        "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
        "max": round(ordered[-1], 1),
        "n": len(ordered),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True, help="a scanned catalog (LFW) whose faces to grow")
    parser.add_argument("--faces", type=int, default=100_000)
    parser.add_argument("--named", type=int, default=200, help="largest people to name")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--answers", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "catalog.db"
        started = time.perf_counter()
        catalog = build_catalog(args.db, db, args.faces, args.named)
        catalog["cluster_s"] = round(time.perf_counter() - started - catalog["build_s"], 1)
        result = {"catalog": catalog, **measure(db, args.repeat, args.answers)}
    table = Table(title=f"photoface serve on {catalog['faces']:,} faces, {catalog['people']:,} people")
    for column in ("request", "median ms", "p95 ms", "max ms", "target"):
        table.add_column(column)
    for label, row in result["pages_ms"].items():
        table.add_row(label, str(row["median"]), str(row["p95"]), str(row["max"]), f"<= {PAGE_LIMIT_MS}")
    answer = result["answer_ms"]
    table.add_row(
        "review answer + next question", str(answer["median"]), str(answer["p95"]), str(answer["max"]), "<= 100"
    )
    table.add_row("review undo", str(result["undo_ms"]), "", "", "")
    table.add_row("first review page after start", str(result["first_review_ms"]), "", "", "(computes the queue)")
    Console().print(table)
    Console().print(f"server peak RSS {result['server_peak_rss_mb']} MB")
    print(write_result("serve_speed", result))


if __name__ == "__main__":
    main()
