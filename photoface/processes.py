"""The scan's local executor: photos analysed by worker processes of this machine.

Each worker holds one loaded ``FaceEngine`` (one inference thread) and reads, hashes, decodes
and analyses whole batches of photos (``scan.prepare_file``, ``scan.analyse_prepared``), then
returns what the catalog stores, without pixels. A video is a task of its own: the worker decodes
its frames a few at a time and returns its face tracks. The scanning process only walks, compares
with the catalog and writes it. Why processes and not threads: the Python between network calls
(pyramid, crops, NMS, alignment) holds the interpreter lock, so two engine threads in one
process reach 1.66x one thread's speed on 2 cores, and two processes 1.9x (docs/benchmarks.md).

Results come back in the order the photos were given, at most two batches per worker in
flight, so memory stays bounded whatever the library's size. A worker that dies (a decoder
crashing on a hostile file, the out-of-memory killer) is replaced: its batches are tried again,
then photo by photo, and only a photo that kills a worker every time is recorded as failed.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path

from photoface.crawler import FileEntry
from photoface.scan import EngineSettings, PhotoRecord, Prepared, analyse_prepared, prepare_file, task_batches
from photoface.terminal import own_terminal, terminal_on_fd2

log = logging.getLogger(__name__)

BATCH = 8  # photos per task at most: enough to batch the embedder
BATCH_BYTES = 2 * 2**20  # of files per task at most: one or two phone photos, so no worker idles at the end
IN_FLIGHT_PER_WORKER = 2
WORKER_MEMORY = 300 * 2**20  # resident bytes above which a worker trims its heap after a batch
TRIES = 2  # a batch whose worker died is tried again, then photo by photo

Item = tuple[FileEntry, PhotoRecord | None]


@dataclass(frozen=True)
class WorkerSettings:
    """How each worker builds its engine, and what it need not decode."""

    engine: EngineSettings
    known: frozenset[str] = frozenset()  # content hashes the catalog already holds
    rescan: bool = False
    decode_memory: int | None = None  # this worker's share of the full-size decode budget
    log_level: int = logging.WARNING


class ProcessAnalysis:
    """``scan.RemoteAnalysis`` on ``workers`` processes, started when there is work."""

    def __init__(
        self, settings: WorkerSettings, workers: int = 2, task: Callable[[list[Item]], list[Prepared]] | None = None
    ) -> None:
        """``task``: what a worker does with a batch (``analyse_batch``; a test passes one that
        kills its worker on a chosen photo). It must be importable by name in a new process."""
        self.settings, self.workers = settings, max(1, workers)
        self.task = task or analyse_batch
        self._pool: ProcessPoolExecutor | None = None

    def prepared(self, todo: list[Item], *, rescan: bool, known: frozenset[str] = frozenset()) -> Iterator[Prepared]:
        """Every item of ``todo``, analysed, in order. Content in ``known`` is hashed, not decoded."""
        if not todo:
            return
        self.settings = replace(self.settings, rescan=rescan, known=frozenset(known))
        waiting = deque((batch, 1) for batch in task_batches(todo, BATCH, BATCH_BYTES))
        running: deque[tuple[list[Item], int, Future]] = deque()
        while waiting or running:
            while waiting and len(running) < self.workers * IN_FLIGHT_PER_WORKER:
                batch, tries = waiting.popleft()
                running.append((batch, tries, self._submit(batch)))
            batch, tries, future = running.popleft()
            try:
                yield from future.result()
            except BrokenProcessPool:
                # The pool is gone with every batch in it: those are sent again as they were,
                # this one (the oldest, blamed) counts a try and at last goes photo by photo.
                log.info("a worker process died; starting new ones")
                self._stop(wait=False)
                resend = [(b, t) for b, t, _ in running]
                running.clear()
                if tries < TRIES:
                    resend.insert(0, (batch, tries + 1))
                else:
                    yield from self._one_by_one(batch)
                waiting.extendleft(reversed(resend))

    def _one_by_one(self, batch: list[Item]) -> Iterator[Prepared]:
        for item in batch:
            try:
                yield from self._submit([item]).result()
            except BrokenProcessPool:
                self._stop(wait=False)
                yield Prepared(item[0], item[1], error="analysing it crashed the worker process (a decoder fault?)")

    def _submit(self, batch: list[Item]) -> Future:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers,
                # spawn: a fresh interpreter, not a fork of this one with its threads' locks held
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self.settings,),
            )
        with terminal_on_fd2():  # a worker started now inherits the terminal as its stderr
            return self._pool.submit(self.task, batch)

    def _stop(self, *, wait: bool) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        processes = list((pool._processes or {}).values())  # private, but the only way to stop them now
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:  # a batch being analysed is not waited for
            with contextlib.suppress(OSError, AttributeError):
                process.terminate()
        if wait:
            for process in processes:
                process.join(5)

    def worker_pids(self) -> list[int]:
        return [process.pid for process in (self._pool._processes or {}).values()] if self._pool else []

    def close(self) -> None:
        self._stop(wait=True)


# ------------------------------------------------------------------ in the worker process
_engine = None
_settings: WorkerSettings | None = None
_terminal = contextlib.ExitStack()


def _start_worker(settings: WorkerSettings) -> None:
    global _engine, _settings  # noqa: PLW0603 - one engine per worker process, made once
    # Ctrl-C reaches the whole process group: the scanning process stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A scanner killed with -9 cannot stop its workers, and they would wait for work forever
    # (every worker holds a write end of the task queue, so it never reads end-of-file).
    threading.Thread(target=_exit_with_parent, name="parent-watch", daemon=True).start()
    from photoface import imageio

    _terminal.enter_context(own_terminal())  # decoder chatter pinned on this worker's files
    # After own_terminal: log lines go to the terminal it keeps, not into its pipe.
    logging.basicConfig(level=settings.log_level, format="%(name)s: %(message)s")  # as the CLI's
    if settings.decode_memory is not None:
        imageio.set_decode_memory(settings.decode_memory)
    _engine = settings.engine.build(threads=1)
    _settings = settings


def _exit_with_parent() -> None:
    parent = multiprocessing.parent_process()
    if parent is not None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)


def analyse_batch(batch: list[Item]) -> list[Prepared]:
    """In a worker: read, hash, decode and analyse a batch of photos with the worker's engine."""
    prepared = [
        prepare_file(walked, own, _engine.max_side, known=_settings.known, rescan=_settings.rescan)
        for walked, own in batch
    ]
    analysed = analyse_prepared(_engine, prepared)
    _give_back_memory()
    return analysed


def _give_back_memory() -> None:
    """Hand freed memory back to the system when this worker holds more than its share.

    onnxruntime frees a batch's activations, but glibc keeps the pages for reuse: at the `best`
    profile (fp32 FaceNet, 1600-pixel pyramids) two workers then sat at 1.05 GB together.
    Trimming after every batch cost the default profile 5-8% on phone photos (the next batch
    faults the pages in again), so it is done only above ``WORKER_MEMORY``, which the default
    profile's workers stay under: `best` then peaks at 0.78-0.82 GB, 4-7% slower
    (docs/benchmarks.md)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return  # not Linux: nothing to measure, and no glibc to ask
    if pages * os.sysconf("SC_PAGE_SIZE") > WORKER_MEMORY:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)
