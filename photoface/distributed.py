"""The scan's Ray executor: photos analysed by a pool of Ray actors, each holding one loaded
``FaceEngine``; the driver (``photoface.scan``) walks, compares with the catalog and stays the
only writer of it. This is the only module that imports ray.

Each actor reads its photos from the path (shared storage) or gets their bytes from the driver
(``ship_bytes``), hashes and decodes them as the local scan does (``scan.prepare_file``), and
returns what the catalog stores, without pixels; a video is a task of its own, its frames
decoded on the actor (from the bytes sent, when shipped) and its face tracks returned. At most
two batches per actor are in flight, so memory is bounded whatever the library's size. An actor
whose process or node dies is restarted by Ray and its batches retried; a batch that still fails
is sent again to the pool, and only after three tries are its photos recorded as failed. A photo
is written once: each batch's result is taken once, however often it was computed.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator

from photoface.crawler import FileEntry
from photoface.errors import PhotofaceError
from photoface.scan import EngineSettings, PhotoRecord, Prepared, analyse_prepared, prepare_file, task_batches

log = logging.getLogger(__name__)

BATCH = 8  # photos per task: enough to batch the embedder, small enough to spread work
IN_FLIGHT_PER_ACTOR = 2
TRIES = 3
CONNECT_TIMEOUT_S = 5.0


class ClusterError(PhotofaceError):
    """Ray is missing, or the cluster cannot be reached."""


class EngineWorker:
    """The actor's body: one engine, loaded once, analysing batches of photos."""

    def __init__(self, settings: EngineSettings) -> None:
        self.engine = settings.build()

    def pid(self) -> int:
        return os.getpid()

    def analyse(self, batch: list[tuple[FileEntry, PhotoRecord | None, bytes | None]], rescan: bool) -> list[Prepared]:
        prepared = [
            prepare_file(walked, own, self.engine.max_side, rescan=rescan, data=data) for walked, own, data in batch
        ]
        return analyse_prepared(self.engine, prepared)


class RayAnalysis:
    """``scan.RemoteAnalysis`` on a Ray cluster (``address``), or on a Ray started here (None).

    ``worker``: the actor class (``EngineWorker``; a benchmark passes one that only pretends,
    to measure how many photos a second the driver can catalogue).
    """

    def __init__(
        self,
        address: str | None,
        settings: EngineSettings,
        *,
        ship_bytes: bool = False,
        actors: int | None = None,
        worker: type = EngineWorker,
    ) -> None:
        if address is not None:
            _token_auth_like_ray_start()  # read by Ray when it is imported
        ray = _import_ray()
        self.ray, self.ship_bytes = ray, ship_bytes
        self.started_here = address is None
        _connect(ray, address)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        gpus = 1 if settings.device == "cuda" else 0
        count = actors or max(1, cpus // 2 if cpus > 2 else cpus)
        remote_class = ray.remote(
            num_cpus=min(2, max(1, cpus // count)), num_gpus=gpus, max_restarts=-1, max_task_retries=-1
        )(worker)
        self.actors = [remote_class.remote(settings) for _ in range(count)]
        log.info("ray: %d engine actors on %d CPUs", count, cpus)

    def prepared(
        self, todo: list[tuple[FileEntry, PhotoRecord | None]], *, rescan: bool, known: frozenset[str] = frozenset()
    ) -> Iterator[Prepared]:
        """Every item of ``todo``, analysed, in the order batches finish. (``known`` is not sent:
        a cluster's workers decode all they get, and the driver writes known content as a copy.)"""
        batches = list(task_batches(todo, BATCH))
        waiting = list(reversed(batches))
        running: dict = {}  # result ref -> (batch, tries, actor index)
        load = [0] * len(self.actors)
        try:
            while waiting or running:
                while waiting and min(load) < IN_FLIGHT_PER_ACTOR:
                    actor = load.index(min(load))
                    batch = waiting.pop()
                    running[self._submit(actor, batch, rescan)] = (batch, 1, actor)
                    load[actor] += 1
                done, _ = self.ray.wait(list(running), num_returns=1)
                ref = done[0]
                batch, tries, actor = running.pop(ref)
                load[actor] -= 1
                try:
                    results = self.ray.get(ref)
                except self.ray.exceptions.RayError as exc:
                    if tries >= TRIES:
                        results = [_failed(item, exc) for item in batch]
                    else:
                        log.info("ray: a batch failed (%s); trying again", type(exc).__name__)
                        other = (actor + 1) % len(self.actors)
                        running[self._submit(other, batch, rescan)] = (batch, tries + 1, other)
                        load[other] += 1
                        continue
                yield from results
        finally:
            for ref in running:  # stopped early (Ctrl-C, a full disk): nothing more to compute
                self.ray.cancel(ref, force=False)

    def _submit(self, actor: int, batch: list[tuple[FileEntry, PhotoRecord | None]], rescan: bool):
        items = [(walked, own, _read(walked) if self.ship_bytes else None) for walked, own in batch]
        return self.actors[actor].analyse.remote(items, rescan)

    def worker_pids(self) -> list[int]:
        return self.ray.get([actor.pid.remote() for actor in self.actors])

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        if self.started_here:
            self.ray.shutdown()


def _read(walked: FileEntry) -> bytes | None:
    """The bytes to ship; None lets the worker try the path and report what is wrong."""
    try:
        with open(walked.path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def _failed(item: tuple[FileEntry, PhotoRecord | None], exc: Exception) -> Prepared:
    walked, own = item
    return Prepared(walked, own, error=f"analysis failed on the cluster {TRIES} times ({type(exc).__name__})")


def _quiet_ray_errors() -> None:
    """Ray prints its workers' errors ("(raylet) Task ... failed ... will be retried") straight
    to stdout from a thread of its own, so ``--json`` would not parse: they become log lines
    (shown with --debug). ``print_to_stdstream`` is what that thread calls, looked up by name."""
    from ray._private import worker

    if hasattr(worker, "print_to_stdstream"):
        worker.print_to_stdstream = _log_ray_lines


def _log_ray_lines(data: dict, ignore_prefix: bool = False) -> None:  # Ray calls it with both
    for line in data.get("lines", []):
        log.info("ray (%s): %s", data.get("pid", "?"), line)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ClusterError('--ray needs Ray: pip install "photoface[ray]"') from None
    return ray


def _connect(ray, address: str | None) -> None:
    """Start a Ray here (None), or join the cluster at ``address``, failing in seconds when it
    cannot be reached instead of Ray's minutes of retries."""
    _quiet_ray_errors()
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False, "include_dashboard": False}
    if address is None:
        ray.init(num_cpus=os.cpu_count() or 1, **quiet)
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"--ray {address!r}: give the head's HOST:PORT, e.g. 127.0.0.1:6379")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ClusterError(
            f"no Ray cluster answers at {address} ({exc.strerror or exc}): start one with "
            f"'ray start --head --port {port}', or check the address"
        ) from None
    quiet.pop("include_dashboard")
    try:
        ray.init(address=address, **quiet)
    except Exception as exc:  # Ray's own errors: authentication, versions, a dead head
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ClusterError(f"cannot join the Ray cluster at {address} ({detail[:300]})") from None


def _token_auth_like_ray_start() -> None:
    """``ray start`` turns token authentication on when a token is at hand (RAY_AUTH_TOKEN,
    RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token, which a local Ray writes); a connecting driver
    does not, and is then refused. Do as ``ray start`` does, unless RAY_AUTH_MODE says. Ray
    reads the setting when it is imported, so this runs first."""
    if "RAY_AUTH_MODE" in os.environ:
        return
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")
    if os.environ.get("RAY_AUTH_TOKEN") or os.path.isfile(path):
        os.environ["RAY_AUTH_MODE"] = "token"
