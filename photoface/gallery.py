"""The HTML gallery: every person's faces on static pages that work offline from ``file://``.

Layout of the output folder (nothing outside it is written, nothing is loaded from the network):

    index.html              one card per person, largest first; unassigned; ignored people last
    people/<id>[-<n>].html  every face of a person, most typical first, PAGE_SIZE faces a page
    unassigned[-<n>].html   faces of nobody, biggest first
    assets/                 one stylesheet, one script (copy buttons, the name box)
    thumbs/<face>-<key>.jpg face thumbnails, linked from the catalog's shared cache
                            (``photoface.thumbnails``), which ``photoface serve`` uses too

Every name and path goes through ``html.escape``: a person named ``<script>`` is text. The
only absolute paths written are the links to the photos, and ``photo_links=False`` drops them.
"""

from __future__ import annotations

import html
import math
import os
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from photoface import __version__
from photoface.catalog import Catalog
from photoface.errors import PhotofaceError
from photoface.people import most_typical_first
from photoface.report import clock
from photoface.thumbnails import ThumbnailCache, default_folder, thumbnail_name

PAGE_SIZE = 500  # faces on one page; with lazy loading the browser fetches only what is on screen
STRIP = 8  # clearest faces on a person's card
MARKER = ".photoface-report"  # marks a folder as ours: we only ever clean up inside such a folder


@dataclass
class GalleryReport:
    index: Path
    people: int = 0
    faces: int = 0
    pages: int = 0
    thumbnails_made: int = 0
    thumbnails_reused: int = 0
    thumbnails_removed: int = 0
    missing_photos: list[str] = field(default_factory=list)
    html_bytes: int = 0
    thumbnail_bytes: int = 0
    seconds: float = 0.0


@dataclass
class Tile:
    """One face as the pages show it."""

    id: int
    photo: str
    thumb: str  # path relative to the output folder
    assigned: str | None
    size: float
    frame: float | None = None  # a video's face: the time of the frame it is shown on


@dataclass
class PersonView:
    id: int
    name: str | None
    ignored: bool
    faces: list[Tile]  # most typical first
    photos: int
    strip: list[Tile]

    @property
    def title(self) -> str:
        return self.name or f"Person {self.id}"


def build_gallery(catalog: Catalog, output: Path, *, photo_links: bool = True, workers: int = 2) -> GalleryReport:
    """Write the gallery of ``catalog`` into ``output`` (created, or a previous gallery updated)."""
    started = time.perf_counter()
    _claim(output)
    faces = catalog.gallery_faces()
    tiles = {face["id"]: _tile(face) for face in faces}
    report = GalleryReport(index=output / "index.html", faces=len(faces))
    cache = ThumbnailCache(default_folder(catalog.path))
    _make_thumbnails(faces, tiles, output, report, cache=cache, workers=workers)
    people = _people(catalog, faces, tiles)
    unassigned = sorted((tiles[f["id"]] for f in faces if f["person"] is None), key=lambda t: -t.size)
    pages = Pages(output, photo_links)
    pages.write_assets()
    pages.write("index.html", _overview(people, unassigned, catalog.stats()))
    for person in people:
        for number, chunk, count in _paged(person.faces):
            pages.write(_person_page(person.id, number), _person_html(person, chunk, number, count, pages))
    for number, chunk, count in _paged(unassigned):
        pages.write(_unassigned_page(number), _unassigned_html(chunk, number, count, len(unassigned), pages))
    pages.remove_stale()
    report.people, report.html_bytes = len(people), pages.bytes
    report.pages = sum(page.suffix == ".html" for page in pages.written)
    report.thumbnail_bytes = sum(p.stat().st_size for p in (output / "thumbs").glob("*.jpg"))
    report.seconds = time.perf_counter() - started
    return report


# ---------------------------------------------------------------------------- output folder
def _claim(output: Path) -> None:
    """Use ``output`` only if it is new, empty or an earlier gallery: never clobber other files."""
    try:
        if output.exists() and not output.is_dir():
            raise PhotofaceError(f"{output} is a file: choose a folder for the report with -o")
        if output.is_dir() and any(output.iterdir()) and not (output / MARKER).exists():
            raise PhotofaceError(f"{output} is not empty and holds no photoface report: choose another folder with -o")
        for folder in (output, output / "people", output / "thumbs", output / "assets"):
            folder.mkdir(parents=True, exist_ok=True)
        (output / MARKER).write_text(f"photoface {__version__}\n")
    except OSError as exc:
        raise PhotofaceError(f"cannot write the report to {output} ({exc.strerror}): choose another -o folder") from exc


class Pages:
    """Writes pages atomically (a reader never sees half a page) and removes pages no longer made."""

    def __init__(self, output: Path, photo_links: bool) -> None:
        self.output = output
        self.photo_links = photo_links
        self.written: set[Path] = set()
        self.bytes = 0

    def write(self, relative: str, text: str) -> None:
        target = self.output / relative
        data = text.encode("utf-8")
        temporary = target.with_name(target.name + ".tmp")
        try:
            temporary.write_bytes(data)
            os.replace(temporary, target)
        except OSError as exc:
            raise PhotofaceError(f"cannot write {target} ({exc.strerror}): check the disk and the -o folder") from exc
        self.written.add(target)
        self.bytes += len(data)

    def write_assets(self) -> None:
        self.write("assets/style.css", STYLE)
        self.write("assets/gallery.js", SCRIPT)
        self.write("assets/missing.svg", MISSING_SVG)

    def remove_stale(self) -> None:
        for page in [*self.output.glob("*.html"), *(self.output / "people").glob("*.html")]:
            if page not in self.written:
                page.unlink(missing_ok=True)

    def photo_link(self, tile: Tile, inner: str) -> str:
        if not self.photo_links:
            return inner
        return f'<a href="{_e(Path(tile.photo).as_uri())}" title="{_e(Path(tile.photo).name)}">{inner}</a>'


# ---------------------------------------------------------------------------- thumbnails
def _tile(face: dict) -> Tile:
    thumb = f"thumbs/{thumbnail_name(face)}"
    return Tile(face["id"], face["photo"], thumb, face["assigned"], face["size"], face["frame_time"])


def _make_thumbnails(
    faces: list[dict],
    tiles: dict[int, Tile],
    output: Path,
    report: GalleryReport,
    *,
    cache: ThumbnailCache,
    workers: int,
) -> None:
    """Thumbnails come from the catalog's shared cache (made there when missing, one decode per
    photo) and are linked into the report, which must work on its own from ``file://``."""
    wanted = {Path(tile.thumb).name for tile in tiles.values()}
    for old in (output / "thumbs").glob("*.jpg"):
        if old.name not in wanted:
            old.unlink()
            report.thumbnails_removed += 1
    todo = [face for face in faces if not (output / tiles[face["id"]].thumb).exists()]
    made = cache.ensure(todo, workers)
    report.thumbnails_made = made.made
    report.thumbnails_reused = len(faces) - made.made
    report.missing_photos = made.missing_photos
    missing = set(made.missing_photos)
    for face in todo:
        if face["photo"] in missing:
            tiles[face["id"]].thumb = "assets/missing.svg"
        else:
            _link(cache.path(face), output / tiles[face["id"]].thumb)
    cache.prune(wanted)


def _link(source: Path, target: Path) -> None:
    """A hard link shares the bytes; another drive (or a file system without links) gets a copy."""
    try:
        target.unlink(missing_ok=True)
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


# ---------------------------------------------------------------------------- people
def _people(catalog: Catalog, faces: list[dict], tiles: dict[int, Tile]) -> list[PersonView]:
    members: dict[int, list[dict]] = defaultdict(list)
    for face in faces:
        if face["person"] is not None:
            members[face["person"]].append(face)
    views = []
    for person in catalog.people(include_hidden=True):
        own = members.get(person["id"], [])
        clearest = sorted(own, key=lambda f: -f["score"] * f["size"])[:STRIP]
        views.append(
            PersonView(
                id=person["id"],
                name=person["name"],
                ignored=person["ignored"],
                faces=[tiles[f["id"]] for f in most_typical_first(own)],
                photos=person["photos"],
                strip=[tiles[f["id"]] for f in clearest],
            )
        )
    return sorted(views, key=lambda v: (v.ignored, -len(v.faces), v.id))


def _paged(tiles: Sequence[Tile]) -> Iterator[tuple[int, Sequence[Tile], int]]:
    count = max(1, math.ceil(len(tiles) / PAGE_SIZE))
    for number in range(1, count + 1):
        yield number, tiles[(number - 1) * PAGE_SIZE : number * PAGE_SIZE], count


def _numbered(stem: str, number: int) -> str:
    """``stem.html`` for page 1, ``stem-N.html`` after it."""
    return f"{stem}.html" if number == 1 else f"{stem}-{number}.html"


def _person_page(person_id: int, number: int = 1) -> str:
    return _numbered(f"people/{person_id}", number)


def _unassigned_page(number: int = 1) -> str:
    return _numbered("unassigned", number)


# ---------------------------------------------------------------------------- HTML
def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _document(title: str, body: str, root: str = "") -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="photoface {_e(__version__)}">
<title>{_e(title)} · photoface</title>
<link rel="stylesheet" href="{root}assets/style.css">
</head><body>
<header><a class="home" href="{root}index.html">photoface</a><h1>{_e(title)}</h1></header>
<main>{body}</main>
<script src="{root}assets/gallery.js"></script>
</body></html>
"""


def _command(text: str, *, template: str = "", placeholder: str = "Type a name") -> str:
    """A command with a copy button; with ``template`` ("... {name}") a text box fills it in, shell-quoted."""
    box = ""
    if template:
        box = (
            f'<input class="name-box" type="text" placeholder="{_e(placeholder)}" '
            f'data-template="{_e(template)}" data-empty="{_e(text)}">'
        )
    return f'<div class="command">{box}<code>{_e(text)}</code><button type="button" class="copy">Copy</button></div>'


def _name_command(person: PersonView) -> str:
    verb = "rename" if person.name else "name"
    return _command(f'photoface {verb} {person.id} "..."', template=f"photoface {verb} {person.id} {{name}}")


def _thumb(tile: Tile, root: str) -> str:
    return f'<img src="{root}{_e(tile.thumb)}" width="112" height="112" loading="lazy" alt="face {tile.id}">'


def _overview(people: list[PersonView], unassigned: list[Tile], stats: dict) -> str:
    visible = [p for p in people if not p.ignored]
    ignored = [p for p in people if p.ignored]
    summary = (
        f'<p class="summary">{len(visible)} people, {stats["faces"]} faces in {stats["photos"]} photos; '
        f"{len(unassigned)} faces unassigned. Made {datetime.now():%Y-%m-%d %H:%M}.</p>"
    )
    body = [summary, '<section class="cards">', *(_card(p) for p in visible), "</section>"]
    if unassigned:
        strip = "".join(_thumb(t, "") for t in unassigned[:STRIP])
        body.append(
            f'<section><h2><a href="{_unassigned_page()}">Unassigned faces ({len(unassigned)})</a></h2>'
            f'<div class="strip">{strip}</div></section>'
        )
    if ignored:
        body += ["<section><h2>Ignored</h2>", '<div class="cards">', *(_card(p) for p in ignored), "</div></section>"]
    return _document("People", "\n".join(body))


def _card(person: PersonView) -> str:
    strip = "".join(_thumb(t, "") for t in person.strip)
    state = ' <span class="badge">ignored</span>' if person.ignored else ""
    return f"""<article class="card" id="person-{person.id}" data-person="{person.id}">
<h2><a href="{_person_page(person.id)}" class="name">{_e(person.title)}</a>{state}</h2>
<p class="counts">person {person.id} · {len(person.faces)} faces · {person.photos} photos</p>
<div class="strip">{strip}</div>
{_name_command(person)}
</article>"""


def _pager(number: int, count: int, page: Callable[[int], str]) -> str:
    if count == 1:
        return ""
    links = [
        f"<b>{n}</b>" if n == number else f'<a href="{page(n).split("/")[-1]}">{n}</a>' for n in range(1, count + 1)
    ]
    return f'<nav class="pager">Page {" ".join(links)}</nav>'


def _faces_grid(tiles: Iterable[Tile], root: str, pages: Pages, note: Callable[[Tile], str]) -> str:
    cells = []
    for tile in tiles:
        badge = f'<span class="badge {_e(tile.assigned or "none")}">{_e(tile.assigned or "unassigned")}</span>'
        at = f' <span class="time">video at {clock(tile.frame)}</span>' if tile.frame is not None else ""
        cells.append(
            f'<figure class="face" id="face-{tile.id}">{pages.photo_link(tile, _thumb(tile, root))}'
            f"<figcaption>face {tile.id} {badge}{at}{note(tile)}</figcaption></figure>"
        )
    return f'<div class="grid">{"".join(cells)}</div>'


def _person_html(person: PersonView, tiles: Sequence[Tile], number: int, count: int, pages: Pages) -> str:
    help_lines = [
        _name_command(person),
        "<p>A face that is not this person: move it to the right person, or to a new one.</p>",
        _command("photoface move FACE_ID new"),
        "<p>(or a person's id or name instead of <code>new</code>; face ids are under the faces)</p>",
        "<p>The same person split in two: merge the other one into this one.</p>",
        _command(f"photoface merge {person.id} OTHER_ID"),
    ]
    if not person.name and not person.ignored:
        help_lines += [
            "<p>A stranger: ignore them (kept out of clustering).</p>",
            _command(f"photoface ignore {person.id}"),
        ]
    body = (
        f'<p class="counts">person {person.id} · {len(person.faces)} faces · {person.photos} photos · '
        f"most typical faces first</p>"
        f'<aside class="help">{"".join(help_lines)}</aside>'
        f"{_pager(number, count, lambda n: _person_page(person.id, n))}"
        f"{_faces_grid(tiles, '../', pages, lambda tile: '')}"
        f"{_pager(number, count, lambda n: _person_page(person.id, n))}"
    )
    return _document(person.title, body, root="../")


def _unassigned_html(tiles: Sequence[Tile], number: int, count: int, total: int, pages: Pages) -> str:
    def note(tile: Tile) -> str:
        return _command(
            f"photoface move {tile.id} PERSON",
            template=f"photoface move {tile.id} {{name}}",
            placeholder="person or new",
        )

    body = (
        f'<p class="counts">{total} faces of nobody yet, biggest first. Attach one with '
        f"<code>photoface move FACE_ID PERSON</code> (a person's id or name, or <code>new</code>).</p>"
        f"{_pager(number, count, _unassigned_page)}{_faces_grid(tiles, '', pages, note)}"
        f"{_pager(number, count, _unassigned_page)}"
    )
    return _document("Unassigned faces", body)


STYLE = """
:root { color-scheme: light dark; --bg: #fafafa; --fg: #1d1d1f; --card: #fff; --muted: #6e6e73; --line: #ddd;
        --accent: #0a66c2; }
@media (prefers-color-scheme: dark) { :root { --bg: #161617; --fg: #f5f5f7; --card: #222224; --muted: #a1a1a6;
        --line: #3a3a3c; --accent: #4da3ff; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg);
       color: var(--fg); }
header { display: flex; gap: 1rem; align-items: baseline; padding: .8rem 1.5rem; border-bottom: 1px solid var(--line);
         position: sticky; top: 0; background: var(--bg); z-index: 1; }
header h1 { font-size: 1.2rem; margin: 0; overflow-wrap: anywhere; }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
.home { font-weight: 700; }
main { padding: 1rem 1.5rem 3rem; }
.summary, .counts { color: var(--muted); margin: .2rem 0 .8rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); gap: 1rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: .8rem; }
.card h2 { font-size: 1.05rem; margin: 0; overflow-wrap: anywhere; }
.strip { display: flex; gap: 4px; overflow: hidden; height: 56px; margin: .4rem 0; }
.strip img { width: 56px; height: 56px; border-radius: 6px; flex: none; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(120px, 1fr)); gap: .6rem; }
.face { margin: 0; background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 4px;
        text-align: center; }
.face img { width: 112px; height: 112px; border-radius: 6px; display: block; margin: 0 auto; }
figcaption { font-size: .8rem; color: var(--muted); }
.badge { font-size: .7rem; border: 1px solid var(--line); border-radius: 4px; padding: 0 4px; margin-left: 4px; }
.badge.manual { border-color: #2e8b57; color: #2e8b57; }
.command { display: flex; gap: 4px; align-items: center; margin: .3rem 0; flex-wrap: wrap; }
.command code { flex: 1; min-width: 0; background: var(--bg); border: 1px solid var(--line); border-radius: 5px;
                padding: 2px 6px; font-size: .8rem; overflow-wrap: anywhere; }
.command button { font-size: .75rem; cursor: pointer; }
.name-box { width: 100%; font: inherit; padding: 2px 6px; }
.help { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: .4rem .8rem;
        margin-bottom: 1rem; max-width: 46rem; }
.help p { margin: .4rem 0 0; color: var(--muted); }
.pager { margin: .8rem 0; } .pager a, .pager b { margin: 0 .2rem; }
"""

# The name box quotes the typed name the way a POSIX shell reads it back (as shlex.quote does).
SCRIPT = r"""
function shellQuote(text) {
  if (text !== '' && /^[A-Za-z0-9_@%+=:,.\/-]+$/.test(text)) return text;
  return "'" + text.replace(/'/g, "'\"'\"'") + "'";
}
document.addEventListener('input', (event) => {
  const box = event.target.closest('.name-box');
  if (!box) return;
  const code = box.parentElement.querySelector('code');
  const name = box.value.trim();
  code.textContent = name ? box.dataset.template.replace('{name}', shellQuote(name)) : box.dataset.empty;
});
document.addEventListener('click', async (event) => {
  const button = event.target.closest('button.copy');
  if (!button) return;
  const text = button.parentElement.querySelector('code').textContent;
  try {
    await navigator.clipboard.writeText(text);
  } catch (error) {  // file:// pages may not get the clipboard API: select the text instead
    const range = document.createRange();
    range.selectNodeContents(button.parentElement.querySelector('code'));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    document.execCommand('copy');
  }
  button.dataset.copied = text;
  button.textContent = 'Copied';
  setTimeout(() => { button.textContent = 'Copy'; }, 1500);
});
"""

MISSING_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" viewBox="0 0 128 128">
<rect width="128" height="128" fill="#ccc"/><text x="64" y="70" font-size="14" text-anchor="middle"
fill="#555" font-family="sans-serif">photo missing</text></svg>
"""
