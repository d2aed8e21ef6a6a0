"""The ``photoface`` command: parse, call the library, print. No logic of its own."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sqlite3
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from photoface import __version__, config
from photoface.clustering import ClusterSettings
from photoface.console import OneLineUsage, PlainWhenPiped, plural
from photoface.engine.devices import DEVICES
from photoface.errors import PhotofaceError

app = typer.Typer(
    help="Find every face in your photos, group them into people, name and search them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Help texts are plain text: "[default: ...]" in them must show, not be read as rich markup.
    rich_markup_mode=None,
    cls=OneLineUsage,
)
# Plain, unwrapped text where stdout or stderr is not a terminal (a pipe, a file, a test).
out = PlainWhenPiped()
err = PlainWhenPiped(stderr=True)

# Exit codes, documented in docs/cli.md.
EXIT_OK, EXIT_ERROR, EXIT_PARTIAL = 0, 1, 3
EXIT_NOTHING_FOUND = 1  # find, find --like and identify with an empty answer, like grep
EXIT_CATALOG_FAULT = 74  # sysexits' EX_IOERR: the catalog could not be written (disk full, read-only, ...)


class State:
    debug = False
    db: Path | None = None


def _version(value: bool) -> None:
    if value:
        out.print(f"photoface {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    db: Annotated[
        Path | None,
        typer.Option(
            "--db",
            help="Catalog file [default: $PHOTOFACE_DB, else the user data directory's photoface/catalog.db].",
            show_default=False,
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and engine log lines.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """photoface: local, private face clustering for photo libraries."""
    State.debug = debug
    State.db = db.expanduser().absolute() if db else None  # absolute in every message and JSON
    if debug:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")


ProfileOption = Annotated[
    str,
    typer.Option(help=f"Speed against recall: {', '.join(config.PROFILES)} (settings, numbers: docs/how-it-works.md)."),
]
MinFaceOption = Annotated[
    int | None,
    typer.Option(help="Smallest face to find, in pixels of the detection image [default: the profile's].", min=12),
]


def fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def run_guarded(action):
    """Run ``action``; a PhotofaceError, or a catalog the machine cannot write any more (a full
    disk, a read-only drive), becomes one line on stderr (a traceback with --debug)."""
    from photoface.catalog import default_path, describe_damage, describe_write_fault, is_damage, is_write_fault

    try:
        return action()
    except PhotofaceError as exc:
        if State.debug:
            raise
        raise fail(str(exc)) from None
    except (sqlite3.OperationalError, OSError) as exc:
        if State.debug or not is_write_fault(exc):
            raise
        raise fail(describe_write_fault(State.db or default_path(), exc), EXIT_CATALOG_FAULT) from None
    except sqlite3.DatabaseError as exc:  # a page SQLite found damaged after the catalog opened
        if State.debug or not is_damage(exc):
            raise
        raise fail(describe_damage(State.db or default_path(), str(exc))) from None


@app.command()
def detect(
    photos: Annotated[list[Path], typer.Argument(help="Photo files to analyse.", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    device: Annotated[str, typer.Option(help=f"Where the models run: {', '.join(DEVICES)}.")] = "auto",
    profile: ProfileOption = config.DEFAULT_PROFILE,
    min_face: MinFaceOption = None,
    max_side: Annotated[
        int | None,
        typer.Option(
            help="Detect on a copy at most this many pixels on its longer side [default: the profile's].", min=64
        ),
    ] = None,
) -> None:
    """Find the faces in PHOTOS and print their boxes and scores (nothing is stored).

    Example: photoface detect party.jpg --json
    """
    engine = _engine(device, profile, min_face=min_face, max_side=max_side)
    results, failed = [], 0
    for analysis in engine.analyze_many(photos):
        if analysis.error is not None:
            failed += 1
            err.print(f"[yellow]skipped:[/yellow] {escape(str(analysis.error))}", highlight=False, soft_wrap=True)
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
        print_json(results)
    elif results:  # no empty table before the error when every photo failed
        _print_detections(results, engine.provider)
    if failed:
        raise typer.Exit(EXIT_PARTIAL if results else EXIT_ERROR)


def _print_detections(results: list[dict], provider: str) -> None:
    table = Table(title=f"faces found (on {provider})")
    for column in ("photo", "face", "box x, y, w, h", "score"):
        table.add_column(column)
    for result in results:
        if not result["faces"]:
            table.add_row(escape(result["photo"]), "-", "no face", "")
        for number, face in enumerate(result["faces"], 1):
            table.add_row(
                escape(result["photo"]) if number == 1 else "",
                str(number),
                ", ".join(f"{v:.0f}" for v in face["box"]),
                f"{face['score']:.3f}",
            )
    out.print(table)


EXIT_INTERRUPTED = 128 + 2  # SIGINT (Ctrl-C); SIGTERM gives 143 and SIGHUP 129, the shell's convention

PersonArg = Annotated[str, typer.Argument(help="Person id or name.", show_default=False)]


def open_catalog(create: bool = False):
    from photoface.catalog import Catalog

    return run_guarded(lambda: Catalog.open(State.db, create=create))


def print_json(value: object) -> None:
    """JSON on stdout for scripts: no colours, no wrapping."""
    typer.echo(json.dumps(value, indent=2))


class ScanBar:
    """A rich progress bar fed by the scan service."""

    def __init__(self, progress) -> None:
        self.progress = progress
        self.task = None
        self.faces = 0

    def start(self, total: int) -> None:
        self.task = self.progress.add_task("analysing", total=total, faces=plural(0, "face"), rate="")

    def advance(self, photos: int, faces: int) -> None:
        self.faces += faces
        self.progress.update(self.task, advance=photos, faces=plural(self.faces, "face"))
        task = self.progress.tasks[self.task]
        if task.elapsed:
            self.progress.update(self.task, rate=f"{task.completed / task.elapsed:.1f} photos/s")


@app.command()
def scan(
    folders: Annotated[list[Path], typer.Argument(help="Folders (or photos) to index.", show_default=False)],
    profile: ProfileOption = config.DEFAULT_PROFILE,
    min_face: MinFaceOption = None,
    device: Annotated[str, typer.Option(help=f"Where the models run: {', '.join(DEVICES)}.")] = "auto",
    jobs: Annotated[int, typer.Option(help="Worker processes (1, or CUDA: threads here).", min=1, max=32)] = (
        config.THREADS
    ),
    rescan: Annotated[bool, typer.Option("--rescan", help="Analyse every photo again, changed or not.")] = False,
    hidden: Annotated[bool, typer.Option("--hidden", help="Also look inside hidden folders.")] = False,
    regions: Annotated[
        bool,
        typer.Option(help="Name faces from the XMP face regions other tools stored (embedded and sidecars)."),
    ] = True,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="[ADDRESS]",
            help="Analyse on a Ray cluster at HOST:PORT (alone: a Ray started on this machine). "
            'Needs pip install "photoface[ray]".',
            show_default=False,
        ),
    ] = None,
    ship_bytes: Annotated[
        bool, typer.Option("--ship-bytes", help="With --ray: send the photos to workers that cannot see the folders.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Index the photos and videos in FOLDERS: find and embed every face, incrementally.

    A video's faces are the faces followed through it (tracks); a Live Photo's clip is kept
    with its photo. Unchanged files cost one stat; changed files are analysed again; moved or renamed files
    keep their faces and names; files gone from disk leave the catalog. Interrupt at any time:
    the next scan carries on.

    Example: photoface scan ~/Pictures
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from photoface.scan import ScanInterrupted, ScanOptions
    from photoface.scan import scan as run_scan

    for folder in folders:
        if not folder.exists():
            raise fail(f"{folder} does not exist: check the path")
    catalog = open_catalog(create=True)
    engine = _engine(device, profile, min_face=min_face)
    if ray:
        remote = _ray_analysis(ray, device, profile, min_face, ship_bytes)
    else:
        remote = _local_workers(engine, profile, min_face, jobs)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TextColumn("[cyan]{task.fields[faces]}"),
        TimeRemainingColumn(),
    )
    stop = None
    # No bar where nobody watches (cron, a pipe, a log file): only the summary lines.
    with Progress(*columns, console=err, transient=True, disable=as_json or not err.is_terminal) as progress:
        try:
            summary = run_guarded(
                lambda: run_scan(
                    catalog,
                    folders,
                    engine,
                    ScanOptions(rescan=rescan, include_hidden=hidden, jobs=jobs),
                    ScanBar(progress),
                    remote=remote,
                )
            )
        except ScanInterrupted as stopped:
            summary, stop = stopped.summary, stopped
        finally:
            if remote is not None:
                remote.close()
    imported = _import_regions(catalog, summary.analysed, engine) if regions and summary.analysed else None
    report = {
        **summary.counts(),
        "seconds": round(summary.seconds, 2),
        "interrupted": summary.interrupted,
        "stop_reason": stop.reason if stop else None,
        "failures": [{"path": p, "error": e} for p, e in summary.failures],
        "warnings": summary.warnings,
        "db": str(catalog.path.absolute()),
        "still_failed": _still_failed(catalog, folders, summary) if stop is None else 0,
        "provider": engine.provider,
        "profile": profile,
        "model": engine.model_id,
        "regions": vars(imported) if imported else None,
        "live_clips": summary.live_clips,
    }
    # After SIGHUP the terminal may be gone: printing must not turn a clean stop into a crash.
    with contextlib.suppress(OSError):
        if as_json:
            print_json(report)
        else:
            # A signal's reason reads as the state ("stopped by SIGTERM"); a fault gets its own error line.
            _print_scan_summary(report, "done" if stop is None else stop.reason if stop.signum else "stopped")
        if stop is not None and stop.signum is None:
            err.print(f"[red]error:[/red] {escape(stop.reason)}", highlight=False, soft_wrap=True)
    if stop is not None:
        raise typer.Exit(128 + stop.signum if stop.signum else EXIT_CATALOG_FAULT)
    if summary.failed or report["still_failed"]:
        raise typer.Exit(EXIT_PARTIAL)


def _still_failed(catalog, folders: list[Path], summary) -> int:
    """Files under ``folders`` that failed in an earlier scan and, unchanged, still count as failed."""
    roots = {str(root) for f in folders for root in (f.expanduser().absolute(), f.expanduser().resolve())}
    now = {path for path, _error in summary.failures}
    return sum(
        1
        for failure in run_guarded(catalog.failures)
        if failure["path"] not in now and any(_is_under(failure["path"], root) for root in roots)
    )


def _is_under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _local_workers(engine, profile: str, min_face: int | None, jobs: int):
    """``jobs`` worker processes for a CPU scan (photoface.processes); None for one, or on CUDA,
    where the engine's threads share one GPU context."""
    from photoface.processes import ProcessAnalysis, WorkerSettings

    if engine.provider != "cpu" or jobs < 2:
        return None
    settings = WorkerSettings(
        _engine_settings(profile, "cpu", min_face),
        decode_memory=config.DECODE_MEMORY // jobs,
        log_level=logging.INFO if State.debug else logging.WARNING,
    )
    return ProcessAnalysis(settings, workers=jobs)


LOCAL_RAY = "local"  # what a bare --ray means (see ``run``)


def _ray_analysis(address: str, device: str, profile: str, min_face: int | None, ship_bytes: bool):
    from photoface.distributed import RayAnalysis

    settings = _engine_settings(profile, device, min_face)
    return run_guarded(lambda: RayAnalysis(None if address == LOCAL_RAY else address, settings, ship_bytes=ship_bytes))


def _engine_settings(profile: str, device: str, min_face: int | None):
    from photoface.scan import EngineSettings

    return EngineSettings(profile, device, (("min_face", min_face),) if min_face is not None else ())


def _import_regions(catalog, paths: list[str], engine):
    from photoface.region_exchange import import_regions

    # The scan's engine, so a face made from a region is embedded by the same model.
    return run_guarded(lambda: import_regions(catalog, paths, engine=lambda: engine))


def _print_regions(report: dict) -> None:
    for key in ("conflicts", "unmatched", "skipped"):
        for line in report[key]:
            err.print(f"[yellow]region:[/yellow] {escape(line)}", highlight=False, soft_wrap=True)
    out.print(
        f"XMP face regions in {plural(report['photos'], 'photo')}: {plural(report['named'], 'face')} named, "
        f"{report['already']} already named, {plural(len(report['unmatched']), 'region')} with no face found, "
        f"{len(report['conflicts'])} kept as you placed them, {len(report['skipped'])} skipped",
        highlight=False,
    )


def _print_scan_summary(report: dict, state: str) -> None:
    for path, error in ((f["path"], f["error"]) for f in report["failures"]):
        err.print(f"[yellow]failed:[/yellow] {escape(path)}: {escape(error)}", highlight=False, soft_wrap=True)
    for warning in report["warnings"]:
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False, soft_wrap=True)
    analysed = report["new"] + report["changed"]
    rate = f" ({analysed / report['seconds']:.1f} photos/s)" if analysed and report["seconds"] else ""
    clips = f"; {plural(report['live_clips'], 'Live Photo clip')} attached to photos" if report["live_clips"] else ""
    out.print(
        f"{state} in {report['seconds']:.1f} s{rate}: {report['new']} new, {report['changed']} changed, "
        f"{report['unchanged']} unchanged, {report['moved']} moved, {report['removed']} removed, "
        f"{plural(report['duplicates'], 'duplicate')}, {report['failed']} failed; "
        f"{plural(report['faces'], 'face')} found{clips}",
        highlight=False,
    )
    if report["interrupted"]:
        out.print("what was analysed is saved; run the same scan again to continue", highlight=False)
    regions = report["regions"]
    if regions and (regions["photos"] or regions["skipped"]):  # silent when no photo had regions
        _print_regions(regions)
    if still := report["still_failed"]:
        err.print(
            f"[yellow]warning:[/yellow] {plural(still, 'file')} failed in an earlier scan and "
            f"{'is' if still == 1 else 'are'} still failed: 'photoface status --failed' lists them",
            highlight=False,
            soft_wrap=True,
        )
    if state == "done":
        out.print("next: photoface cluster (groups the faces into people)", highlight=False)


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
    failed: Annotated[bool, typer.Option("--failed", help="List every file that failed, with the reason.")] = False,
) -> None:
    """Summarise the catalog: photos, faces, failures, people, last scan, models.

    Example: photoface status --failed
    """
    from photoface.engine.devices import cuda_installed
    from photoface.scan import last_scan

    with open_catalog() as catalog:
        stats = catalog.stats()
        stats["last_scan"] = last_scan(catalog)
        models = catalog.face_models()
        failures = catalog.failures() if failed else None
    # What the catalog's faces were made with; before any scan, what a scan would use.
    stats["model"] = ", ".join(models) if models else run_guarded(_default_model_id)
    stats["models"] = models
    stats["provider"] = "cuda" if cuda_installed() else "cpu"
    if failures is not None:
        stats["failures"] = failures
    if as_json:
        print_json(stats)
        return
    table = Table(show_header=False, box=None)
    last = stats["last_scan"]
    rows = [
        ("catalog", stats["db"]),
        ("photos", stats["photos"]),
        ("of them videos", stats["videos"]),
        ("Live Photo clips", stats["live_clips"]),
        ("faces", stats["faces"]),
        ("photos without faces", stats["photos_without_faces"]),
        ("duplicates", stats["duplicates"]),
        ("near-duplicates", stats["near_duplicates"]),
        ("failed files", stats["failed"]),
        ("people named / unnamed", f"{stats['people_named']} / {stats['people_unnamed']}"),
        ("unassigned faces", stats["unassigned_faces"]),
        ("last scan", _describe_scan(last)),
        ("model", ", ".join(f"{model} ({plural(count, 'face')})" for model, count in models.items()) or stats["model"]),
        ("execution provider", stats["provider"]),
    ]
    for name, value in rows:
        table.add_row(name, escape(str(value)))
    out.print(table)
    for failure in failures or []:
        out.print(f"{escape(failure['path'])}: {escape(failure['error'])}", highlight=False, soft_wrap=True)


def _describe_scan(last: dict | None) -> str:
    if last is None:
        return "never"
    state = last["status"] + (f" (pid {last['pid']})" if last["status"] == "running" and last.get("pid") else "")
    reason = f": {last['stop_reason']}" if last.get("stop_reason") else ""
    return f"{last['started_at']}, {state}{reason}"


def _default_model_id() -> str:
    from photoface.engine.models import FACENET_FILES, model_id

    return model_id(FACENET_FILES[config.PROFILES[config.DEFAULT_PROFILE].precision])


@app.command()
def faces(
    person: Annotated[str | None, typer.Option(help="Only faces of this person (id or name).")] = None,
    photo: Annotated[Path | None, typer.Option(help="Only faces in this photo.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    embeddings: Annotated[bool, typer.Option("--embeddings", help="With --json: add each 128-d embedding.")] = False,
) -> None:
    """List the faces in the catalog, with box, score and person.

    Boxes are [x, y, w, h] in pixels of the upright, full-resolution photo.

    Example: photoface faces --photo ~/Pictures/party.jpg --json
    """
    from photoface.people import resolve

    with open_catalog() as catalog:
        person_id = run_guarded(lambda: resolve(catalog, person)["id"]) if person is not None else None
        path = str(photo.expanduser().absolute()) if photo else None
        if path is not None and not catalog.has_photo(path):
            raise fail(f"{photo} is not in the catalog: scan its folder first")
        found = catalog.faces(person=person_id, photo=path, embeddings=embeddings and as_json)
    if as_json:
        print_json(found)
        return
    table = Table(title=plural(len(found), "face"))
    for column in ("id", "photo", "time", "box x, y, w, h", "score", "person"):
        table.add_column(column)
    for face in found:
        who = escape(face["name"]) if face["name"] else (str(face["person"]) if face["person"] is not None else "-")
        table.add_row(
            str(face["id"]),
            escape(face["photo"]),
            _span(face),
            ", ".join(f"{v:.0f}" for v in face["box"]),
            f"{face['score']:.3f}",
            who,
        )
    out.print(table)


@app.command()
def cluster(
    min_cluster_size: Annotated[int, typer.Option(help="Smallest group HDBSCAN calls a person.", min=2)] = (
        ClusterSettings.min_cluster_size
    ),
    min_samples: Annotated[
        int, typer.Option(help="HDBSCAN min_samples: higher leaves more faces unassigned.", min=1)
    ] = ClusterSettings.min_samples,
    selection: Annotated[str, typer.Option(help="HDBSCAN cluster selection: eom or leaf.")] = (
        ClusterSettings.selection_method
    ),
    epsilon: Annotated[float, typer.Option(help="HDBSCAN cluster_selection_epsilon (0 = off).", min=0)] = (
        ClusterSettings.selection_epsilon
    ),
    distance: Annotated[
        float,
        typer.Option(
            help="A face joins a person when its mean squared distance to their faces is below this (0..4).",
            min=0,
            max=4,
        ),
    ] = ClusterSettings.distance,
    sure_distance: Annotated[
        float,
        typer.Option(help="Within this mean squared distance a face is its cluster's, whatever else is near.", min=0),
    ] = ClusterSettings.sure_distance,
    margin: Annotated[
        float,
        typer.Option(
            help="Beyond --sure-distance, a face must be nearer its cluster than this times its nearest outsider.",
            min=0,
        ),
    ] = ClusterSettings.margin,
    min_face_size: Annotated[
        float, typer.Option(help="Faces smaller than this (pixels) are not clustered.", min=0)
    ] = ClusterSettings.min_face_size,
    full: Annotated[
        bool, typer.Option("--full", help="Cluster every face again, not only the new ones (decisions are kept).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Group the catalogued faces into people. Your decisions are kept.

    By default only faces added since the last run are placed: they join the person their
    nearest faces belong to, and new people form where they are dense enough (everything is
    clustered again when most faces are new, or with --full). Named or confirmed faces, moved
    faces and ignored people never change; a face taken from a person never goes back to
    them; person ids and names survive; two faces of one photo are never the same person
    automatically. Running it twice in a row changes nothing.

    Example: photoface cluster
    """
    from photoface.people import cluster as run_cluster

    if selection not in ("eom", "leaf"):
        raise fail(f"--selection {selection!r}: use eom or leaf")
    settings = ClusterSettings(
        min_cluster_size=min_cluster_size,
        min_samples=min_samples,
        selection_method=selection,
        selection_epsilon=epsilon,
        distance=distance,
        sure_distance=sure_distance,
        margin=margin,
        min_face_size=min_face_size,
    )
    with open_catalog() as catalog:
        report = run_guarded(lambda: run_cluster(catalog, settings, full=full))
    if as_json:
        print_json(report.__dict__)
        return
    out.print(
        f"{report.mode}: {plural(report.new_faces, 'new face')}; {plural(report.people, 'person', 'people')} "
        f"({report.new_people} new), {plural(report.assigned, 'face')} assigned, {report.unassigned} left "
        f"unassigned ({report.too_small} too small "
        f"to cluster); {report.changed} changed in {report.seconds:.1f} s",
        highlight=False,
    )
    out.print("next: photoface people, then photoface name ID NAME (or photoface serve --open)", highlight=False)


@app.command()
def people(
    show_all: Annotated[bool, typer.Option("--all", help="Include hidden and ignored people.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List people, largest first: id, name, faces, photos and a sample photo.

    Example: photoface people
    """
    with open_catalog() as catalog:
        found = catalog.people(include_hidden=show_all)
        unassigned = catalog.unassigned_faces()
    if as_json:
        print_json(found)
        return
    table = Table(title=f"{plural(len(found), 'person', 'people')}; {plural(unassigned, 'face')} unassigned")
    for column in ("id", "name", "faces", "photos", "sample photo"):
        table.add_column(column)
    for person in found:
        name = escape(person["name"]) if person["name"] else "[dim]unnamed[/dim]"
        if person["ignored"]:
            name += " [dim](ignored)[/dim]"
        table.add_row(
            str(person["id"]), name, str(person["faces"]), str(person["photos"]), escape(person["sample"] or "")
        )
    out.print(table)


@app.command()
def show(
    person: PersonArg,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Where to write the JPEG [default: person-ID.jpg beside the catalog]."),
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many faces, clearest first.", min=1)] = 60,
) -> None:
    """Write a contact sheet of a person's faces (labelled with face ids) and print its path.

    Example: photoface show 12 -o person12.jpg
    """
    from photoface.people import resolve
    from photoface.report import contact_sheet

    with open_catalog() as catalog:
        found = run_guarded(lambda: resolve(catalog, person))
        faces = catalog.faces(person=found["id"])
    target = output or _sheet_folder(catalog.path) / f"person-{found['id']}.jpg"
    run_guarded(lambda: contact_sheet(faces, target, limit=limit))
    typer.echo(str(target.absolute()))


def _sheet_folder(catalog_path: Path) -> Path:
    """Beside the catalog, not wherever the command ran; the temp folder for a read-only one."""
    import tempfile

    folder = catalog_path.absolute().parent
    return folder if os.access(folder, os.W_OK) else Path(tempfile.gettempdir())


def _edit(action, *args) -> int:
    with open_catalog() as catalog:
        return run_guarded(lambda: action(catalog, *args))


def _who(person_id: int) -> str:
    """How messages name a person: ``person 52 (Madonna)``, or ``person 12`` without a name."""
    with open_catalog() as catalog:
        person = catalog.person(person_id)
    return f"person {person_id} ({escape(person['name'])})" if person and person["name"] else f"person {person_id}"


@app.command()
def name(
    person: Annotated[str, typer.Argument(help="Person id (or current name).", show_default=False)],
    new_name: Annotated[str, typer.Argument(metavar="NAME", help="The name to give.", show_default=False)],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="If the name is taken, merge without asking.")] = False,
) -> None:
    """Name a person and confirm its faces (clustering will not take them away).

    If another person already has the name, offers to merge the two.

    Example: photoface name 12 "Alice Smith"
    """
    from photoface import people as service

    try:
        with open_catalog() as catalog:
            person_id = service.name_person(catalog, person, new_name)
    except service.NameInUse as taken:
        if not (yes or (sys.stdin.isatty() and typer.confirm(f"{taken.name!r} is person {taken.owner}: merge?"))):
            raise fail(str(taken)) from None
        person_id = _edit(lambda c: service.name_person(c, person, new_name, merge=True))
        merged = f"person {person}" if person.strip().isdigit() else escape(person)
        out.print(f"merged {merged} into {_who(person_id)}: the name was taken", highlight=False)
        return
    except PhotofaceError as exc:
        raise fail(str(exc)) from None
    out.print(f"person {person_id} is {escape(' '.join(new_name.split()))}", highlight=False)


@app.command()
def rename(
    person: Annotated[str, typer.Argument(help="Person id or current name.", show_default=False)],
    new_name: Annotated[str, typer.Argument(metavar="NEW_NAME", show_default=False)],
) -> None:
    """Change a person's name.

    Example: photoface rename "Alice" "Alice Smith"
    """
    from photoface.people import rename as service_rename

    person_id = _edit(service_rename, person, new_name)
    out.print(f"person {person_id} is now {escape(' '.join(new_name.split()))}", highlight=False)


@app.command()
def unname(person: PersonArg) -> None:
    """Remove a person's name (the faces stay together).

    Example: photoface unname 12
    """
    from photoface.people import unname as service_unname

    out.print(f"person {_edit(service_unname, person)} has no name now", highlight=False)


@app.command()
def merge(
    target: Annotated[str, typer.Argument(help="The person to keep (id or name).", show_default=False)],
    others: Annotated[list[str], typer.Argument(help="People to merge into it.", show_default=False)],
) -> None:
    """Merge people into one: every face of OTHERS moves to TARGET.

    Example: photoface merge 12 15 31
    """
    from photoface.people import merge as service_merge

    out.print(f"merged into {_who(_edit(service_merge, target, others))}", highlight=False)


@app.command()
def move(
    face: Annotated[
        int, typer.Argument(help="Face id (see 'photoface show' or 'photoface faces').", show_default=False)
    ],
    person: Annotated[
        str, typer.Argument(help="Person id or name ('new', or a name nobody has: a new person).", show_default=False)
    ],
) -> None:
    """Move one face to another person, or to a new one ('new', or a new name); clustering
    keeps it there.

    Example: photoface move 4711 "Alice Smith"
    """
    from photoface.people import move_faces, new_name

    with open_catalog() as catalog:
        created = run_guarded(lambda: new_name(catalog, person))
        person_id = run_guarded(lambda: move_faces(catalog, [face], person, create=True))
    named = f": a new person named {escape(created)!r}" if created else ""
    out.print(f"face {face} is now {f'person {person_id}' if created else _who(person_id)}{named}", highlight=False)


def _box_arg(metavar: str, what: str) -> typer.models.ArgumentInfo:
    return typer.Argument(metavar=metavar, help=f"{what}, in pixels of the upright photo.", show_default=False)


# A negative X or Y must reach the box check (one line naming the box), not read as an option.
@app.command("add-face", context_settings={"ignore_unknown_options": True})
def add_face(
    photo: Annotated[Path, typer.Argument(help="A catalogued photo.", show_default=False)],
    x: Annotated[float, _box_arg("X", "The box's left edge")],
    y: Annotated[float, _box_arg("Y", "Its top edge")],
    w: Annotated[float, _box_arg("W", "Its width")],
    h: Annotated[float, _box_arg("H", "Its height")],
    person: Annotated[
        str,
        typer.Argument(metavar="NAME", help="Person id or name (a name nobody has: a new person).", show_default=False),
    ],
    profile: Annotated[
        str | None,
        typer.Option(
            help=f"The model to embed with: {', '.join(config.PROFILES)} "
            "[default: the profile whose model made most of the catalog's faces].",
            show_default=False,
        ),
    ] = None,
    device: Annotated[str, typer.Option(help=f"Where the models run: {', '.join(DEVICES)}.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the face as JSON.")] = False,
) -> None:
    """Name a face the scan missed: the box X Y W H (pixels of the upright photo, as 'faces'
    prints them) becomes a face of NAME. The detector looks again inside the box; where it
    finds nothing, the face is made from the box. Clustering keeps it with NAME.

    Example: photoface add-face ~/Pictures/1987/beach.jpg 410 120 90 110 "Aunt Rose"
    """
    from photoface.drawn import add_face as service_add_face
    from photoface.drawn import matching_profile

    with open_catalog() as catalog:
        chosen = profile or run_guarded(lambda: matching_profile(catalog))
        added = run_guarded(
            lambda: service_add_face(catalog, photo, (x, y, w, h), person, lambda: _engine(device, chosen))
        )
    if as_json:
        print_json({**vars(added), "origin": added.origin, "box": list(added.box)})
        return
    how = "found by the detector in the box" if added.detected else "made from the box (no face detected in it)"
    new = " (a new person)" if added.created else ""
    out.print(f"face {added.face} is person {added.person} {escape(added.name)!r}{new}: {how}", highlight=False)


FacesArg = Annotated[list[int], typer.Argument(help="Face ids ('photoface faces' lists them).", show_default=False)]


@app.command("reject-merge")
def reject_merge(
    person: Annotated[str, typer.Argument(help="Person id or name.", show_default=False)],
    other: Annotated[str, typer.Argument(help="The person they are not (id or name).", show_default=False)],
) -> None:
    """No: these two people are not one (an answer to a 'same person?' suggestion); clustering
    never joins them and the pair is not suggested again.

    Example: photoface reject-merge 61 Alice
    """
    from photoface.people import reject_merge as service_reject_merge

    first, second = _edit(service_reject_merge, person, other)
    out.print(f"{_who(first)} is not {_who(second)}", highlight=False)


@app.command()
def unassign(faces: FacesArg) -> None:
    """Take faces from their people; clustering never gives them back to those people.

    Example: photoface unassign 4711 4712
    """
    from photoface.people import unassign as service_unassign

    left = _edit(service_unassign, faces)
    were = ", ".join(map(_who, left)) or "nobody"
    out.print(f"{plural(len(set(faces)), 'face')} unassigned (from {were})", highlight=False)


@app.command()
def split(
    person: PersonArg,
    faces: FacesArg,
) -> None:
    """Make a new person of some faces of PERSON (a look-alike merged in by mistake).

    Example: photoface split 12 4711 4712 4713
    """
    from photoface.people import split as service_split

    new = _who(_edit(service_split, person, faces))
    one = len(faces) == 1
    ids = ", ".join(map(str, faces))
    out.print(f"face{'' if one else 's'} {ids} {'is' if one else 'are'} now {new}", highlight=False)


@app.command()
def confirm(
    faces_and_person: Annotated[
        list[str], typer.Argument(metavar="FACE... PERSON", help="Face ids, then the person.", show_default=False)
    ],
) -> None:
    """Yes: these faces are this person (an answer to 'photoface suggest').

    Example: photoface confirm 4711 4712 Alice
    """
    from photoface.people import confirm as service_confirm

    faces, person = _faces_then_person(faces_and_person)
    who = _who(_edit(service_confirm, faces, person))
    out.print(f"{plural(len(set(faces)), 'face')} confirmed as {who}", highlight=False)


@app.command()
def reject(
    faces_and_person: Annotated[
        list[str], typer.Argument(metavar="FACE... PERSON", help="Face ids, then the person.", show_default=False)
    ],
) -> None:
    """No: these faces are not this person; they are never given to them automatically.

    Example: photoface reject 4711 Alice
    """
    from photoface.people import reject as service_reject

    faces, person = _faces_then_person(faces_and_person)
    who = _who(_edit(service_reject, faces, person))
    out.print(f"{plural(len(set(faces)), 'face')} {'is' if len(set(faces)) == 1 else 'are'} not {who}", highlight=False)


def _faces_then_person(values: list[str]) -> tuple[list[int], str]:
    if len(values) < 2:
        raise fail("give one or more face ids, then the person (id or name)")
    *faces, person = values
    bad = next((value for value in faces if not value.isdigit()), None)
    if bad is not None:
        raise fail(f"{bad!r} is not a face id: give face ids (numbers), then one person")
    return [int(value) for value in faces], person


@app.command()
def suggest(
    person: Annotated[str | None, typer.Argument(help="Only this person (id or name).", show_default=False)] = None,
    limit: Annotated[int, typer.Option(help="At most this many of each kind.", min=1)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """The review queue: faces likely to be a named person but not yet theirs, likeliest
    first, and people likely to be one. Answer with confirm, reject, merge or reject-merge.

    Example: photoface suggest Alice --limit 10
    """
    from photoface.people import review_queue

    with open_catalog() as catalog:
        queue = run_guarded(lambda: review_queue(catalog, person, limit=limit))
    faces, merges = queue.faces, queue.merges
    if as_json:  # "left": questions in the whole queue, beyond those listed
        print_json({"faces": [vars(f) for f in faces], "merges": [vars(m) for m in merges], "left": queue.left})
        return
    if not faces and not merges:
        out.print(f"nothing to review{f' for {escape(person)}' if person else ''}", highlight=False)
    table = Table(title=f"{plural(len(faces), 'face')} to review")
    for column in ("face", "is this", "score", "photo", "answer"):
        table.add_column(column)
    for face in faces:
        who = escape(face.name or f"person {face.person}")
        ids = " ".join(map(str, (face.face, *face.copies)))  # its near-copies: the same answer
        answer = f"photoface confirm|reject {ids} {face.person}"
        if face.alternative is not None:  # "Alice, or Beth?"
            who += f", or {escape(face.alternative_name or f'person {face.alternative}')}?"
            answer += f" (or confirm {ids} {face.alternative})"
        shown = f"{face.face} (+{plural(len(face.copies), 'copy', 'copies')})" if face.copies else str(face.face)
        table.add_row(shown, who, f"{face.score:.2f}", escape(face.photo), answer)
    if faces:
        out.print(table)
    table = Table(title=f"{plural(len(merges), 'pair')} of people likely to be one")
    for column in ("person", "same as", "score", "answer"):
        table.add_column(column)
    for merge in merges:
        table.add_row(
            f"{merge.person} ({escape(merge.name or 'unnamed')}, {plural(merge.faces, 'face')})",
            f"{merge.other} ({escape(merge.other_name or 'unnamed')})",
            f"{merge.score:.2f}",
            f"photoface merge|reject-merge {merge.other} {merge.person}",
        )
    if merges:
        out.print(table)
    if queue.left:
        out.print(f"about {plural(queue.left, 'question')} left", highlight=False)


@app.command()
def ignore(person: PersonArg) -> None:
    """Ignore a stranger: hidden from 'people', kept out of automatic assignment.

    Example: photoface ignore 31
    """
    from photoface.people import ignore as service_ignore

    out.print(f"{_who(_edit(service_ignore, person))} is ignored", highlight=False)


@app.command()
def born(
    person: PersonArg,
    day: Annotated[str | None, typer.Argument(metavar="YYYY-MM-DD", help="The birth date.", show_default=False)] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the birth date.")] = False,
) -> None:
    """Give a person a birth date: nobody is given a face automatically in a photo taken
    before it, and 'serve' shows their age on each photo.

    Their automatic faces in photos taken earlier are taken from them.

    Example: photoface born Alice 2019-03-02
    """
    from photoface.people import set_birth_date

    if (day is None) == (not clear):
        raise fail(f"give a birth date or --clear, not both ({day} and --clear)" if clear else "give a birth date")
    with open_catalog() as catalog:
        person_id, taken = run_guarded(lambda: set_birth_date(catalog, person, None if clear else day))
    who = _who(person_id)
    if clear:
        out.print(f"{who}: birth date removed", highlight=False)
        return
    freed = f"; {plural(len(taken), 'face')} in earlier photos taken from them" if taken else ""
    out.print(f"{who}: born {day}{freed}", highlight=False)


@app.command()
def find(
    names: Annotated[list[str] | None, typer.Argument(help="People (names or ids).", show_default=False)] = None,
    any_of: Annotated[bool, typer.Option("--any", help="Photos with any of them, not all.")] = False,
    like: Annotated[Path | None, typer.Option(help="Photos of the person whose face is largest in this photo.")] = (
        None
    ),
    device: Annotated[str, typer.Option(help=f"With --like: where the models run ({', '.join(DEVICES)}).")] = "auto",
    detail: Annotated[
        bool,
        typer.Option(
            "--detail", help="With NAMES: each file's kind and the people's faces in it, with times in videos."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """Print the photos and videos showing all NAMES (or any, with --any), newest first, one per line.

    Example: photoface find "Alice Smith" Bob | xargs -d '\\n' open
    """
    from photoface import people as service

    if bool(names) == bool(like):
        raise fail("give names, or --like PHOTO")
    if detail and like is not None:
        raise fail("--detail goes with names, not --like")
    with open_catalog() as catalog:
        if like is not None:
            match = run_guarded(lambda: service.match_like(catalog, _engine(device), like))
            found = match.photos
            _say_like(match)
        elif detail:
            found = run_guarded(lambda: service.find_appearances(catalog, names, any_of=any_of))
        else:
            found = run_guarded(lambda: service.find_photos(catalog, names, any_of=any_of))
    if as_json:
        print_json(found)
    if not found:
        raise nothing_found(f"no photo has {(' or ' if any_of else ' and ').join(names or [])}" if names else "")
    if as_json:
        return
    for item in found:
        line = os.fsencode(item["path"]) + _seen_at(item).encode() if detail else os.fsencode(item)
        sys.stdout.buffer.write(line + b"\n")
    sys.stdout.flush()


def _seen_at(appearance: dict) -> str:
    """``\t0:03-0:05, 0:12-0:20`` for a video: when the people are seen in it; nothing for a photo."""
    spans = [span for span in map(_span, appearance["faces"]) if span]
    return "\t" + ", ".join(spans) if spans else ""


def _span(face: dict) -> str:
    """A video face's track as ``0:03-0:05`` (minutes:seconds); empty for a photo's face."""
    from photoface.report import clock

    return f"{clock(face['start'])}-{clock(face['end'])}" if face["start"] is not None else ""


def _say_like(match) -> None:
    """On stderr, so the paths stay alone on stdout: which face was looked for, and how close."""
    person = match.person["id"]
    who = _identity(person, match.person["name"])
    loose = "" if match.distance <= ClusterSettings.sure_distance else f" (a loose match: 'photoface show {person}')"
    err.print(
        f"the largest of {plural(match.faces, 'face')} (box {', '.join(f'{v:.0f}' for v in match.box)}) "
        f"is {who} at distance {match.distance:.2f}{loose}",
        highlight=False,
        soft_wrap=True,
    )


def _identity(person: int | None, name: str | None) -> str:
    """Who a face matched: ``person 52 (Madonna)``, ``person 12, unnamed`` or ``unknown``."""
    if person is None:
        return "unknown"
    return f"person {person} ({escape(name)})" if name else f"person {person}, unnamed"


def nothing_found(why: str) -> typer.Exit:
    """An empty answer, as grep gives one: a line on stderr and exit 1."""
    err.print(f"nothing found{': ' + escape(why) if why else ''}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_NOTHING_FOUND)


@app.command()
def identify(
    photo: Annotated[Path, typer.Argument(help="A photo or a video (need not be in the library).", show_default=False)],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write a copy with boxes and names (a video: every frame, no sound)."),
    ] = None,
    device: Annotated[str, typer.Option(help=f"Where the models run: {', '.join(DEVICES)}.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Say who is in a photo or a video: each face's (a video: each face track's) nearest person
    (named or not), or unknown.

    Example: photoface identify party.jpg -o party-named.jpg; photoface identify clip.mov -o clip-named.mp4
    """
    from photoface import people as service
    from photoface.media import is_video_name
    from photoface.report import annotate
    from photoface.video_identify import identify_and_label

    video = is_video_name(photo.name)
    with open_catalog() as catalog:
        if video:
            found = run_guarded(lambda: identify_and_label(catalog, _engine(device), photo, output)).tracks
        else:
            found = run_guarded(lambda: service.identify(catalog, _engine(device), photo))
    if output is not None and not video:
        run_guarded(lambda: annotate(photo, found, output))
    if as_json:
        print_json(found)
    if not found:
        raise nothing_found(f"no face in {photo}")
    if as_json:
        return
    table = Table(title=escape(f"{plural(len(found), 'face track' if video else 'face')} in {photo}"))
    for column in ("track" if video else "face", *(["seconds"] if video else []), "box x, y, w, h", "who", "distance"):
        table.add_column(column)
    for number, face in enumerate(found, 1):
        table.add_row(
            str(number),
            *([f"{face['start']:.1f}-{face['end']:.1f}"] if video else []),
            ", ".join(f"{v:.0f}" for v in face["box"]),
            _identity(face["person"], face["name"]),
            f"{face['distance']:.2f}" if face["distance"] is not None else "",
        )
    out.print(table)
    if output is not None:
        out.print(f"wrote {escape(str(output))}", highlight=False)


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).", min=0, max=65535)] = 8765,
    host: Annotated[
        str, typer.Option(help="Address to listen on; anything but 127.0.0.1 lets other machines try to connect.")
    ] = "127.0.0.1",
    open_browser: Annotated[bool, typer.Option("--open", help="Open the page in the default browser.")] = False,
) -> None:
    """Review and name people in your browser: people, faces, photos and the review queue.

    Only this machine can connect (unless --host says otherwise), and only with the link
    printed at start, which holds a random token. Ctrl-C stops it.

    Example: photoface serve --open
    """
    import webbrowser

    from photoface.web import bind, is_loopback
    from photoface.web import serve as run_server

    with open_catalog() as catalog:  # a missing or unreadable catalog: one line, before anything listens
        catalog_path = catalog.path
    sock = run_guarded(lambda: bind(host, port))
    if not is_loopback(host):
        err.print(
            f"[yellow]warning:[/yellow] listening on {escape(host)}: other machines on the network can reach "
            "this page (they still need the token)",
            highlight=False,
        )

    def ready(url: str) -> None:
        out.print(f"photoface serves {escape(str(catalog_path))} at", highlight=False)
        print(url, flush=True)  # plain, whole, on its own line: scripts and terminals pick it up
        out.print("Ctrl-C stops it.", highlight=False)
        if open_browser:
            webbrowser.open(url)

    with contextlib.suppress(KeyboardInterrupt):
        run_guarded(lambda: run_server(catalog_path, sock, ready=ready))


@app.command()
def report(
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for index.html and the thumbnails.")] = Path(
        "photoface-report"
    ),
    open_browser: Annotated[bool, typer.Option("--open", help="Open the report in the web browser.")] = False,
    photo_links: Annotated[
        bool, typer.Option(help="Link each face to its photo (--no-photo-links: no paths at all, to share the page).")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was written as JSON.")] = False,
) -> None:
    """Write an HTML gallery of your people to review, name and fix clusters (works offline).

    Run it again after 'cluster' or 'name': only changed faces get new thumbnails.

    Example: photoface report -o ~/photoface-report --open
    """
    import webbrowser

    from photoface.gallery import build_gallery

    with open_catalog() as catalog:
        written = run_guarded(lambda: build_gallery(catalog, output, photo_links=photo_links))
    if as_json:
        print_json({**vars(written), "index": str(written.index.absolute())})
    else:
        out.print(
            f"{plural(written.people, 'person', 'people')}, {plural(written.faces, 'face')}, "
            f"{plural(written.pages, 'page')} ({plural(written.thumbnails_made, 'new thumbnail')}, "
            f"{written.thumbnails_reused} reused) in {written.seconds:.1f} s",
            highlight=False,
        )
        for photo in written.missing_photos:
            err.print(f"[yellow]warning:[/yellow] {escape(photo)} is gone: run 'photoface scan' again", highlight=False)
        typer.echo(written.index.absolute().as_uri())
    if open_browser:
        webbrowser.open(written.index.absolute().as_uri())


@app.command()
def demo(
    db: Annotated[
        Path | None,
        typer.Option(
            "--db",
            help="The demo's catalog [default: demo.db beside the default catalog; never $PHOTOFACE_DB].",
            show_default=False,
        ),
    ] = None,
    serve_it: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Then review the demo's people in the browser app.")
    ] = False,
    open_browser: Annotated[bool, typer.Option("--open", help="Serve and open the page in the browser.")] = False,
) -> None:
    """Try photoface on the sample photos it ships with, in a catalog of their own.

    Scans 35 photos of five people and two group photos into demo.db (not your catalog),
    groups the faces into people and prints the commands to look at them. Running it again
    rescans incrementally and keeps any names you gave.

    Example: photoface demo --open
    """
    import shlex

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from photoface.demo import demo_path, run_demo, sample_folder, sample_photos
    from photoface.scan import ScanInterrupted

    # An explicit --db (here or before the command) is the user's choice; $PHOTOFACE_DB is not
    # consulted, since it names the user's own catalog.
    db_path = (db or State.db or demo_path()).expanduser().absolute()
    with sample_folder() as folder:
        count = len(sample_photos(folder))
    out.print(
        f"scanning {count} sample photos into {escape(str(db_path))} (your own catalog is not touched)", highlight=False
    )
    engine = _engine("auto")
    remote = _local_workers(engine, config.DEFAULT_PROFILE, None, config.THREADS)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[cyan]{task.fields[faces]}"),
    )
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as progress:
        try:
            found = run_guarded(
                lambda: run_demo(db_path, engine, jobs=config.THREADS, progress=ScanBar(progress), remote=remote)
            )
        except ScanInterrupted as stop:
            raise fail(
                f"{stop.reason}: run photoface demo again to continue",
                128 + stop.signum if stop.signum else EXIT_CATALOG_FAULT,
            ) from None
        finally:
            if remote is not None:
                remote.close()
    scanned, clustered = found.scanned, found.clustered
    for path, error in scanned.failures:  # not expected from the bundled photos; said if it happens
        err.print(f"[yellow]failed:[/yellow] {escape(path)}: {escape(error)}", highlight=False, soft_wrap=True)
    out.print(
        f"scanned in {scanned.seconds:.1f} s: {scanned.new} new, {scanned.changed} changed, "
        f"{scanned.unchanged} unchanged, {scanned.failed} failed; "
        f"{plural(scanned.faces, 'face')} found in the {plural(scanned.new + scanned.changed, 'photo')} analysed",
        highlight=False,
    )
    out.print(
        f"found {plural(len(found.people), 'person', 'people')} "
        f"({plural(clustered.assigned, 'face')}; {found.unassigned} unassigned, mostly strangers in the "
        "two group photos):",
        highlight=False,
    )
    for person in found.people:
        name = person["name"] or "unnamed"
        # The sample photo's folder is who it shows: the demo's answer key, side by side.
        shown = Path(person["sample"] or "")
        example = shown.relative_to(found.sample) if shown.is_relative_to(found.sample) else shown
        out.print(
            f"  person {person['id']} ({escape(name)}): {plural(person['faces'], 'face')}, e.g. {escape(str(example))}",
            highlight=False,
        )
    demo_db = shlex.quote(str(db_path))
    out.print("next:", highlight=False)
    out.print(f"  photoface --db {demo_db} people", highlight=False, soft_wrap=True)
    out.print(f"  photoface --db {demo_db} serve --open", highlight=False, soft_wrap=True)
    out.print("  photoface scan ~/Pictures   (your own photos, into your own catalog)", highlight=False)
    if serve_it or open_browser:
        State.db = db_path
        serve(open_browser=open_browser)


regions_app = typer.Typer(
    help="Face names in XMP regions: import from other tools, export to them.\n\n"
    "Example: photoface regions export --dry-run",
    no_args_is_help=True,
)
app.add_typer(regions_app, name="regions")


@regions_app.command("import")
def regions_import(
    folders: Annotated[list[Path], typer.Argument(help="Folders of catalogued photos.", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Name faces from the XMP face regions (MWG, Microsoft, IPTC, ACDSee) stored in the photos and their
    sidecars (photo.jpg.xmp, photo.xmp): the names you gave in digiKam, Lightroom or Picasa.

    Example: photoface regions import ~/Pictures
    """
    from photoface.region_exchange import regions_under

    with open_catalog() as catalog:
        # The default engine, loaded only if a region has no detected face to name.
        report = vars(run_guarded(lambda: regions_under(catalog, folders, engine=lambda: _engine("auto"))))
    if as_json:
        print_json(report)
    else:
        _print_regions(report)


@regions_app.command("export")
def regions_export(
    people: Annotated[
        list[str] | None, typer.Option("--people", help="Only these people (names or ids; repeat the option).")
    ] = None,
    sidecar: Annotated[
        str, typer.Option(help="Sidecar naming: darktable (photo.jpg.xmp, also digiKam) or adobe (photo.xmp).")
    ] = "darktable",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say which sidecars would change; write nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Write the named faces into XMP sidecars as MWG and Microsoft face regions, for digiKam,
    Lightroom, darktable and others. Existing sidecars keep everything else; photos are never
    modified.

    Example: photoface regions export --people Alice --dry-run
    """
    from photoface.region_exchange import export_regions

    with open_catalog() as catalog:
        report = run_guarded(lambda: export_regions(catalog, people, style=sidecar, dry_run=dry_run))
    if as_json:
        print_json({**vars(report), "dry_run": dry_run})
    else:
        _print_export(report, dry_run)
    if report.skipped:
        raise typer.Exit(EXIT_PARTIAL)


def _print_export(report, dry_run: bool) -> None:
    for line in report.skipped:
        err.print(f"[yellow]skipped:[/yellow] {escape(line)}", highlight=False, soft_wrap=True)
    verb = "would write" if dry_run else "wrote"
    for path in report.written:
        out.print(f"{verb} {escape(path)}", highlight=False)
    out.print(
        f"{plural(len(report.written), 'sidecar')} {'to write' if dry_run else 'written'}, "
        f"{report.unchanged} unchanged, "
        f"{len(report.skipped)} skipped",
        highlight=False,
    )


@app.command()
def backup(
    target: Annotated[
        Path | None,
        typer.Argument(
            metavar="FILE",
            help="Write the copy here (a new file) [default: the catalog's backups folder].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Write a consistent, checked copy of the catalog now (safe while other commands use it).

    Without FILE it goes to catalog.db.backups/ beside the catalog, where photoface also keeps
    one before every upgrade of the catalog and one a day when it changes; the newest
    $PHOTOFACE_BACKUPS (default 5) are kept.

    Example: photoface backup /media/usb/photoface-catalog.db
    """
    from photoface.backup import now

    with open_catalog() as catalog:
        made = run_guarded(lambda: now(catalog, target))
    out.print(
        f"backed up {escape(str(catalog.path))} to {escape(str(made.path))}: {plural(made.photos, 'photo')}, "
        f"{plural(made.faces, 'face')}, {_named(made.people_named)} (integrity checked)",
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def restore(
    source: Annotated[
        Path,
        typer.Argument(metavar="FILE", help="A backup of the catalog (see 'photoface backup').", show_default=False),
    ],
) -> None:
    """Put a backup back as the catalog, after checking it is a whole photoface catalog.

    The current catalog is never deleted: it is moved aside to catalog.db.before-restore-TIME.
    The face index is rebuilt from the restored catalog on first use; thumbnails are remade as
    needed. Stop 'photoface serve' and scans of this catalog first.

    Example: photoface restore ~/.local/share/photoface/catalog.db.backups/catalog-20261201-093000.db
    """
    from photoface.backup import put_back
    from photoface.catalog import default_path

    catalog_path = State.db.expanduser() if State.db else default_path()
    done = run_guarded(lambda: put_back(catalog_path, source.expanduser()))
    checked = done.check
    out.print(
        f"restored {escape(str(source))} as {escape(str(catalog_path))}: {plural(checked.photos, 'photo')}, "
        f"{plural(checked.faces, 'face')}, {_named(checked.people_named)} (integrity checked)",
        highlight=False,
        soft_wrap=True,
    )
    kept = f"the catalog it replaced is kept as {escape(str(done.kept))}" if done.kept else "there was no catalog"
    out.print(f"{kept}; the face index is rebuilt on first use, thumbnails as needed", highlight=False, soft_wrap=True)


def _named(count: int) -> str:
    return f"{plural(count, 'person', 'people')} named"


def _engine(device: str, profile: str = config.DEFAULT_PROFILE, **overrides):
    from photoface.engine import FaceEngine

    if profile not in config.PROFILES:
        raise fail(f"unknown profile {profile!r}: use one of {', '.join(config.PROFILES)}")
    return run_guarded(lambda: FaceEngine.from_profile(profile, device, **overrides))


def run(**kwargs) -> None:
    """The ``photoface`` console script: the app, with the terminal kept to photoface's own lines."""
    from photoface.terminal import own_terminal

    try:
        with own_terminal():
            try:
                app(args=_optional_ray_address(sys.argv[1:]), **kwargs)
            except sqlite3.DatabaseError as exc:
                # A damaged page read outside run_guarded: the same one line, never a traceback.
                from photoface.catalog import default_path, describe_damage, is_damage

                if State.debug or not is_damage(exc):
                    raise
                fail(describe_damage(State.db or default_path(), str(exc)))
                sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:  # Ctrl-C as the terminal is handed back, after the command's own handling
        if State.debug:
            raise
        sys.exit(EXIT_INTERRUPTED)


def _optional_ray_address(args: list[str]) -> list[str]:
    """``--ray`` takes an optional ADDRESS (HOST:PORT), which click cannot say: a bare ``--ray``
    (followed by an option, a folder or nothing) means a Ray started on this machine."""
    result = []
    for i, arg in enumerate(args):
        result.append(arg)
        following = args[i + 1] if i + 1 < len(args) else ""
        if arg == "--ray" and not re.fullmatch(r"[\w.\-\[\]:]+:\d+|" + LOCAL_RAY, following):
            result.append(LOCAL_RAY)
    return result


__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PARTIAL", "app", "run"]
