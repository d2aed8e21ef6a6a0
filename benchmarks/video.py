"""Video analysis speed and memory: phone-style 1080p and 4K clips, and a long video.

    python -m benchmarks.video                       # 1080p and 4K, 10 s each; long: 1 min against 60 and 5 min
    python -m benchmarks.video --seconds 20 --samplings default --long-minutes 10 --long-1080p-minutes 2

The clips are made from the shared clips (video/) with PyAV and cached in the temporary folder:
``portrait`` is sv_61dc1bc5 (a phone's portrait video stored landscape with a -90 degree display
matrix) scaled up, stored landscape and flagged, as phones write it; ``landscape`` is the 640x480
webcam clip (5 fps) scaled to the height and pillarboxed, each frame repeated to 30 fps. H.264
(x264 "veryfast", a keyframe a second, as phones space them), the source looped to ``--seconds``.

Each run is ``photoface.media.tracks.analyse_video`` in a child process: wall seconds, that
child's CPU seconds (user + system), its peak RSS, and the tracks found, at the default
sampling and at the alternatives in ``SAMPLINGS``. Other jobs may share the cores: CPU seconds
say what the analysis itself costs. The long video repeats a clip's packets with shifted
timestamps (no re-encode) to show that memory stays flat with length: the shared QCIF phone clip
for an hour (decoding an hour of 1080p takes longer than 2 cores have here), the 1080p clip for minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.common import PeakMemory, require_data, write_result
from photoface import config

CACHE = Path(tempfile.gettempdir()) / "photoface-bench-video"
RATE = 30
SIZES = {"1080p": (1920, 1080), "4K": (3840, 2160)}  # stored (landscape) width, height
SOURCES = {"portrait": "sv_61dc1bc5_phone_rotated.mp4", "landscape": "sv_61dc1afa_webcam_5fps.mp4"}
QCIF = "asr_6221e1a8_phone_3gp_qcif.3gp"  # the shared 176x144 phone clip: an hour of it decodes in minutes
LONG_1080P = "1080p-landscape"
X264 = {"preset": "veryfast", "x264-params": f"keyint={RATE}"}
# name: (seconds between sampled frames, longer side analysed, keyframes only)
SAMPLINGS = {
    "default": (config.VIDEO_SAMPLE_INTERVAL, config.VIDEO_MAX_SIDE, False),
    "1 per s": (1.0, config.VIDEO_MAX_SIDE, False),
    "4 per s": (0.25, config.VIDEO_MAX_SIDE, False),
    "keyframes": (config.VIDEO_SAMPLE_INTERVAL, config.VIDEO_MAX_SIDE, True),
}


def _source_frames(name: str, size: tuple[int, int], seconds: float) -> Iterator[av.VideoFrame]:
    """The shared clip's stored frames at ``size`` and ``RATE`` fps, looped to ``seconds``."""
    path = require_data("video", SOURCES[name])
    total = round(seconds * RATE)
    made = 0
    while made < total:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            repeat = max(1, round(RATE / float(stream.average_rate or RATE)))
            for frame in container.decode(stream):
                scaled = _fit(frame, size) if name == "landscape" else frame.reformat(*size, format="yuv420p")
                for _ in range(repeat):
                    if made == total:
                        return
                    scaled.pts, scaled.time_base = made, Fraction(1, RATE)
                    made += 1
                    yield scaled


def _fit(frame: av.VideoFrame, size: tuple[int, int]) -> av.VideoFrame:
    """The frame scaled to ``size``'s height, centred on black (pillarboxed)."""
    width = round(frame.width * size[1] / frame.height / 2) * 2
    canvas = np.zeros((size[1], size[0], 3), np.uint8)
    left = (size[0] - width) // 2
    canvas[:, left : left + width] = frame.to_ndarray(width=width, height=size[1], format="rgb24")
    return av.VideoFrame.from_ndarray(canvas, format="rgb24").reformat(format="yuv420p")


def phone_clip(name: str, resolution: str, seconds: float) -> Path:
    """A cached phone-style H.264 clip (see the module's docstring)."""
    path = CACHE / f"{name}-{resolution}-{seconds:g}s.mp4"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part.mp4")
    with av.open(str(partial), "w") as container:
        stream = container.add_stream("libx264", rate=RATE, options=X264)
        stream.width, stream.height = SIZES[resolution]
        stream.pix_fmt = "yuv420p"
        if name == "portrait":
            stream.set_display_rotation(-90)  # as the source: shown upright as a portrait video
        for frame in _source_frames(name, SIZES[resolution], seconds):
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    partial.rename(path)
    return path


def long_video(clip: Path, minutes: float) -> Path:
    """``clip``'s video packets repeated, timestamps shifted, to ``minutes`` long (no re-encode)."""
    path = CACHE / f"{clip.stem}-{minutes:g}min{clip.suffix}"
    if path.exists():
        return path
    partial = path.with_suffix(".part" + clip.suffix)
    with av.open(str(partial), "w") as made:
        offset, stream = 0, None
        while stream is None or offset * stream.time_base < minutes * 60:
            with av.open(str(clip)) as given:
                source = given.streams.video[0]
                stream = stream or made.add_stream_from_template(source)
                first, end = None, offset
                for packet in given.demux(source):
                    if packet.dts is None:
                        continue
                    first = packet.dts if first is None else first  # negative where B-frames delay the first
                    end = max(end, packet.dts + offset + (packet.duration or 1))
                    packet.pts, packet.dts = packet.pts + offset, packet.dts + offset
                    packet.stream = stream
                    made.mux(packet)
                offset = end - min(first or 0, 0)
    partial.rename(path)
    return path


def analyse(path: Path, sampling: str) -> dict:
    """``analyse_video`` of ``path`` in a child process: wall, CPU, peak RSS and what it found."""
    command = [sys.executable, "-m", "benchmarks.video", "--analyse", str(path), "--sampling", sampling]
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        peak = PeakMemory(child.pid)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        output.seek(0)
        text = output.read().decode(errors="replace").strip()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"analysis of {path} failed: {text}")
    found = json.loads(text.splitlines()[-1])
    return {
        **found,
        "process_s": wall,  # with Python's start and the models' loading
        "process_cpu_s": usage.ru_utime + usage.ru_stime,
        "realtime_wall": found["duration"] / found["analysis_s"],
        "realtime_cpu": found["duration"] / found["analysis_cpu_s"],
        "peak_rss_mb": peak.stop(),
    }


def _child(path: Path, sampling: str) -> int:
    """The child's side of ``analyse``: one line of JSON on stdout."""
    from photoface.engine import FaceEngine
    from photoface.media.tracks import analyse_video

    interval, max_side, keyframes = SAMPLINGS[sampling]
    engine = FaceEngine.from_profile(config.DEFAULT_PROFILE, "cpu")
    started, cpu = time.perf_counter(), time.process_time()
    info, tracks = analyse_video(engine, path, interval=interval, max_side=max_side, keyframes_only=keyframes)
    found = {"duration": info.duration, "size": info.size, "tracks": len(tracks)}
    print(
        json.dumps({**found, "analysis_s": time.perf_counter() - started, "analysis_cpu_s": time.process_time() - cpu})
    )
    return 0


def _table(title: str, rows: dict[str, dict]) -> Table:
    table = Table(title=title)
    for column in ("run", "video s", "wall s", "x real time", "CPU s", "video s per CPU s", "peak RSS", "tracks"):
        table.add_column(column, justify="right")
    for name, run in rows.items():
        table.add_row(
            name,
            f"{run['duration']:.0f}",
            f"{run['analysis_s']:.1f}",
            f"{run['realtime_wall']:.1f}",
            f"{run['analysis_cpu_s']:.1f}",
            f"{run['realtime_cpu']:.1f}",
            f"{run['peak_rss_mb']:.0f} MB",
            str(run["tracks"]),
        )
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phone-style clip")
    parser.add_argument("--long-minutes", type=float, default=60.0, help="length of the long QCIF video")
    parser.add_argument("--long-1080p-minutes", type=float, default=5.0, help="length of the long 1080p video")
    parser.add_argument("--samplings", default=",".join(SAMPLINGS), help="which of " + ", ".join(SAMPLINGS))
    parser.add_argument("--analyse", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--sampling", default="default", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.analyse:
        return _child(args.analyse, args.sampling)
    console = Console(width=150)  # the table whole in a log file too
    samplings = [name for name in args.samplings.split(",") if name in SAMPLINGS]
    clips = {f"{r}-{n}": phone_clip(n, r, args.seconds) for r in SIZES for n in SOURCES}
    runs = {f"{clip}, {s}": analyse(path, s) for clip, path in clips.items() for s in samplings}
    console.print(_table(f"analyse_video on phone-style clips ({os.cpu_count()} cores)", runs))
    long_runs = {}
    for clip, minutes in (
        (require_data("video", QCIF), args.long_minutes),
        (clips[LONG_1080P], args.long_1080p_minutes),
    ):
        for length in (1, minutes):
            long_runs[f"{clip.stem}, {length:g} min"] = analyse(long_video(clip, length), "default")
    console.print(_table("long videos: memory against length (default sampling)", long_runs))
    result = {"clip_seconds": args.seconds, "samplings": {s: SAMPLINGS[s] for s in samplings}, "clips": runs}
    result["long"] = long_runs
    console.print(f"wrote {write_result('video', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
