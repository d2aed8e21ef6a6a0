"""Walking folders: which files count, and loops that must not repeat them."""

import os

from photoface.crawler import FileEntry, WalkError, walk


def _touch(path, content=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def test_extensions_case_insensitive_hidden_skipped(tmp_path):
    for name in ("a.JPG", "b.jpeg", "c.PNG", "d.webp", "e.tif", "f.HEIC", "g.gif", "h.bmp", "notes.txt", "raw.cr2"):
        _touch(tmp_path / name)
    _touch(tmp_path / ".thumbnails" / "t.jpg")
    _touch(tmp_path / "sub" / ".hidden.jpg")
    names = sorted(os.path.basename(e.path) for e in walk([tmp_path]))
    assert names == ["a.JPG", "b.jpeg", "c.PNG", "d.webp", "e.tif", "f.HEIC", "g.gif", "h.bmp", "raw.cr2"]
    with_hidden = {os.path.basename(e.path) for e in walk([tmp_path], include_hidden=True)}
    assert {"t.jpg", ".hidden.jpg"} <= with_hidden


def test_symlink_loops_and_aliases_are_walked_once(tmp_path):
    _touch(tmp_path / "photos" / "2024" / "a.jpg")
    (tmp_path / "photos" / "2024" / "loop").symlink_to(tmp_path / "photos")
    (tmp_path / "photos" / "alias").symlink_to(tmp_path / "photos" / "2024")
    entries = list(walk([tmp_path / "photos", tmp_path / "photos"]))
    assert [os.path.basename(e.path) for e in entries] == ["a.jpg"]
    assert isinstance(entries[0], FileEntry) and entries[0].size == 1


def test_dangling_link_is_reported(tmp_path):
    (tmp_path / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (entry,) = walk([tmp_path])
    assert isinstance(entry, WalkError) and entry.reason == "broken symbolic link"
