"""Keep the terminal photoface's own: library chatter becomes log lines, never screen output.

Two kinds of chatter reach a terminal while photos are decoded:

- Python warnings from Pillow ("Corrupt EXIF data", "Truncated File Read"). They are routed to
  the ``photoface.decoders`` logger, attributed to the file the warning thread was decoding,
  and kept with that file (``imageio.note_warning``) so a failure's reason can quote them.
- Messages that libtiff, libjpeg and friends write to file descriptor 2 themselves, where no
  Python setting reaches. Descriptor 2 is pointed at a pipe whose lines go to the same logger,
  naming the files in flight; ``sys.stderr`` keeps writing to the real terminal, so photoface's
  own lines (errors, the progress bar, ``--debug`` logs) still show.

The log lines are shown with ``--debug`` (INFO level) and dropped otherwise. Both settings are
made once, around the whole command, before any decoding thread starts: nothing is changed per
image.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import sys
import threading
import warnings
from collections.abc import Iterator

from photoface import imageio

log = logging.getLogger("photoface.decoders")


@contextlib.contextmanager
def own_terminal() -> Iterator[None]:
    """Run a command with library warnings and native stderr output turned into log lines."""
    with warnings.catch_warnings():
        # "always": every file's warning is kept, not only the first of each kind.
        warnings.simplefilter("always")
        warnings.showwarning = _log_warning
        with _native_stderr_to_log():
            yield


@contextlib.contextmanager
def terminal_on_fd2() -> Iterator[None]:
    """Point descriptor 2 at the real terminal for a moment: a worker process started inside
    inherits the terminal, not this process's pipe, and its own ``own_terminal`` then keeps its
    decoders' chatter (pinned on its own files) as this process does."""
    try:
        terminal = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr replaced by something without a descriptor
        yield
        return
    saved = os.dup(2)
    os.dup2(terminal, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _log_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: PLR0917 - warnings' signature
    text = str(message).strip()
    owner = imageio.note_warning(text)
    log.info("%s: %s", owner or f"{filename}:{lineno}", text)


@contextlib.contextmanager
def _native_stderr_to_log() -> Iterator[None]:
    try:
        terminal_fd = os.dup(2)
        read_fd, write_fd = os.pipe()
    except OSError:  # no descriptor 2 at all (a daemon): nothing can be printed anyway
        yield
        return
    sys.stderr.flush()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    python_stderr = sys.stderr
    # Left open at the end: logging handlers made meanwhile may still write to it at exit.
    sys.stderr = open(  # noqa: SIM115
        terminal_fd, "w", buffering=1, encoding=python_stderr.encoding, errors="backslashreplace", closefd=False
    )
    lines = NativeLines(read_fd)
    imageio.end_of_decode_hooks.append(lines.drain)
    stop = threading.Event()
    reader = threading.Thread(target=lines.follow, args=(stop,), name="native-stderr", daemon=True)
    reader.start()
    try:
        yield
    finally:
        imageio.end_of_decode_hooks.remove(lines.drain)
        sys.stderr.flush()
        os.dup2(terminal_fd, 2)  # closes the pipe's last write end (unless a child still holds one)
        sys.stderr = python_stderr
        stop.set()
        reader.join(timeout=2)
        lines.drain()


class NativeLines:
    """Lines written to the pipe behind descriptor 2, each logged once.

    Drained by a reader thread (so the pipe never fills and blocks a writer) and by each
    decoding thread as its decode ends: what a library printed while only that file was being
    decoded is then pinned on that file, and may become its failure reason.
    """

    def __init__(self, read_fd: int) -> None:
        os.set_blocking(read_fd, False)
        self.fd = read_fd
        self.partial = b""
        self.lock = threading.Lock()

    def follow(self, stop: threading.Event) -> None:
        while not stop.is_set():
            select.select([self.fd], [], [], 0.2)
            self.drain()

    def drain(self) -> None:
        with self.lock:
            data = self.partial
            while True:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:  # nothing more for now (EAGAIN), or the pipe is gone
                    break
                if not chunk:
                    break
                data += chunk
            *complete, self.partial = data.split(b"\n")
        for raw in complete:
            self._emit(raw.decode("utf-8", "backslashreplace").strip())

    @staticmethod
    def _emit(text: str) -> None:
        if not text:
            return
        owner = imageio.note_warning(text, only_if_alone=True)
        where = owner or ", ".join(imageio.files_in_flight()) or "no photo being decoded"
        log.info("native library (%s): %s", where, text)
