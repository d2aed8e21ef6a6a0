"""Privacy trial: does anything leave the machine, is anything written outside photoface's places?

Runs the real CLI, one command after another, each under ``strace -f`` (its worker processes
and threads included), in a sandbox where every place a program could write on its own (``HOME``,
the ``XDG_*`` folders, ``TMPDIR``, the working folder) is an empty folder. Then it reports, per
command:

- every socket that is not AF_UNIX or TCP (UDP, netlink, raw: what name lookups and telemetry
  use), every address connected, bound or sent to that is not loopback, and every DNS query
  (anything sent to port 53, loopback resolvers included);
- every file or folder created or opened for writing outside photoface's own places: the
  catalog's folder (catalog, WAL, face index, thumbnails), the folders the command was asked to
  write (``report -o``, the sidecars of ``regions export``), the temp folder (which must be
  empty again at the end), and the system's own (/dev/null, /dev/shm, Python's bytecode cache);
- every file left afterwards in the sandbox's home, XDG, temp and working folders.

``serve`` is asked for its pages by a real headless Chromium (where one is installed, else by
plain HTTP requests) and then left idle for ``--idle`` seconds: onnxruntime's telemetry fired
about 10 s after start. ``ORT_DISABLE_TELEMETRY`` and ``RAY_USAGE_STATS_ENABLED`` are removed
from the environment first, so the trial shows what photoface does by itself.

    python -m benchmarks.privacy                      # fivecelebs from ../shared/data
    python -m benchmarks.privacy --photos ~/Pictures/some-folder --idle 70

Needs ``strace`` (Debian: ``apt-get install strace``). Exits 1 when anything was found.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PHOTOS = Path(os.environ.get("PHOTOFACE_DATA", REPO.parent / "shared" / "data")) / "fivecelebs"

TRACED = (
    "socket,connect,bind,sendto,sendmsg,sendmmsg,"
    "open,openat,openat2,creat,mkdir,mkdirat,rename,renameat,renameat2,link,linkat,symlink,symlinkat"
)
# The variables that turn dependencies' reporting off: removed, so that photoface must set them.
REPORTING_SWITCHES = ("ORT_DISABLE_TELEMETRY", "RAY_USAGE_STATS_ENABLED", "RAY_USAGE_STATS_PROMPT_ENABLED")
# Always fine to write: not files anyone keeps.
SYSTEM_PLACES = ("/dev/null", "/dev/shm/", "/dev/tty", "/dev/pts/", "/proc/self/", "pipe:", "socket:", "anon_inode:")


@dataclass
class Sandbox:
    """Empty folders for every place a program may write to by itself, and the user's own."""

    root: Path

    def __post_init__(self) -> None:
        for folder in (*self.private, self.photos, self.output, self.data):
            folder.mkdir(parents=True, exist_ok=True)

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def data(self) -> Path:  # XDG_DATA_HOME: the default catalog lives in data/photoface/
        return self.root / "xdg-data"

    @property
    def catalog_folder(self) -> Path:
        return self.data / "photoface"

    @property
    def photos(self) -> Path:
        return self.root / "photos"

    @property
    def output(self) -> Path:
        return self.root / "output"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def cwd(self) -> Path:
        return self.root / "cwd"

    @property
    def private(self) -> tuple[Path, ...]:
        """Folders that must hold nothing afterwards (photoface's own places are elsewhere)."""
        names = ("home", "xdg-cache", "xdg-config", "xdg-state", "xdg-runtime", "tmp", "cwd")
        return tuple(self.root / name for name in names)

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key not in REPORTING_SWITCHES}
        env.pop("PHOTOFACE_DB", None)  # the default catalog place is part of what is checked
        env.update(
            HOME=str(self.home),
            XDG_DATA_HOME=str(self.data),
            XDG_CACHE_HOME=str(self.root / "xdg-cache"),
            XDG_CONFIG_HOME=str(self.root / "xdg-config"),
            XDG_STATE_HOME=str(self.root / "xdg-state"),
            XDG_RUNTIME_DIR=str(self.root / "xdg-runtime"),
            TMPDIR=str(self.tmp),
            PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
        )
        return env

    def leftovers(self) -> list[str]:
        """Files and folders left in the folders that must stay empty."""
        return sorted(str(path) for folder in self.private for path in folder.rglob("*"))


@dataclass
class Finding:
    """What one command did that the promise forbids."""

    command: str
    exit_code: int
    sockets: list[str] = field(default_factory=list)  # socket() calls other than AF_UNIX / TCP
    addresses: list[str] = field(default_factory=list)  # non-loopback or DNS destinations
    writes_outside: list[str] = field(default_factory=list)
    writes_inside: int = 0  # files and folders written in the allowed places
    inet_sockets: int = 0  # TCP sockets (allowed when only loopback is used)

    @property
    def clean(self) -> bool:
        return self.exit_code == 0 and not (self.sockets or self.addresses or self.writes_outside)


_CALL = re.compile(r"^(?P<pid>\d+)\s+(?P<name>\w+)\((?P<args>.*)$")
_RESUMED = re.compile(r"^(?P<pid>\d+)\s+<\.\.\. (?P<name>\w+) resumed>(?P<rest>.*)$")
_IPV4 = re.compile(r'sin_port=htons\((?P<port>\d+)\), sin_addr=inet_addr\("(?P<addr>[^"]+)"\)')
_IPV6 = re.compile(r'sin6_port=htons\((?P<port>\d+)\).*?inet_pton\(AF_INET6, "(?P<addr>[^"]+)"')
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_FD_PATH = re.compile(r"^\d+<(?P<path>[^>]*)>")
_RESULT = re.compile(r"\)\s+=\s+(?P<result>-?\d+(?:<[^>]*>)?)")


def calls(log: str) -> Iterator[tuple[str, str, str]]:
    """(syscall, arguments, result) of each finished call in an ``strace -f -y`` log; calls that
    another thread interrupted (``<unfinished ...>``) are joined with their ``resumed`` line."""
    pending: dict[str, tuple[str, str]] = {}
    for line in log.splitlines():
        if resumed := _RESUMED.match(line):
            name, args = pending.pop(resumed["pid"], (resumed["name"], ""))
            line_args, rest = args, resumed["rest"]
        elif call := _CALL.match(line):
            if call["args"].endswith("<unfinished ...>"):
                pending[call["pid"]] = (call["name"], call["args"].removesuffix("<unfinished ...>"))
                continue
            name, line_args, rest = call["name"], call["args"], call["args"]
        else:
            continue
        result = _RESULT.search(rest)
        yield name, line_args, result["result"] if result else ""


def check_network(name: str, args: str, finding: Finding) -> None:
    """Record a socket of a forbidden kind and any destination that is not loopback, or is DNS."""
    if name == "socket":
        family, kind = (part.strip() for part in args.split(",")[:2])
        if family in ("AF_INET", "AF_INET6") and kind.startswith("SOCK_STREAM"):
            finding.inet_sockets += 1
        elif family not in ("AF_UNIX", "AF_LOCAL"):
            finding.sockets.append(f"{family} {kind}")
        return
    for pattern in (_IPV4, _IPV6):
        for match in pattern.finditer(args):
            address, port = match["addr"], int(match["port"])
            loopback = ipaddress.ip_address(address.split("%")[0]).is_loopback
            if port == 53 or not loopback:
                finding.addresses.append(f"{name} {address}:{port}" + (" (DNS)" if port == 53 else ""))


def written_path(name: str, args: str, result: str, cwd: Path) -> str | None:
    """The path a successful call created or opened for writing, else None."""
    if not result or result.startswith("-"):
        return None
    if name in ("open", "openat", "openat2", "creat"):
        flags = args.split(",")[2 if name.startswith("openat") else 1] if name != "creat" else "O_CREAT"
        if not re.search(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC", flags):
            return None
        opened = _FD_PATH.match(result)
        return opened["path"] if opened else _absolute(args, 0, cwd)
    if name in ("mkdir", "mkdirat", "link", "linkat", "symlink", "symlinkat", "rename", "renameat", "renameat2"):
        target = -1 if name != "mkdirat" else 0
        return _absolute(args, target, cwd)
    return None


def _absolute(args: str, which: int, cwd: Path) -> str | None:
    """The ``which``-th string argument as an absolute path (``-y`` shows a dirfd's path)."""
    strings = list(_STRING.finditer(args))
    if not strings:
        return None
    match = strings[which]
    path = match.group(1)
    if path.startswith("/"):
        return path
    before = args[: match.start()]
    dirfd = re.findall(r"\d+<([^>]*)>, $", before)
    return str(Path(dirfd[0] if dirfd else cwd) / path)


def allowed(path: str, places: tuple[Path, ...]) -> bool:
    if path.startswith(SYSTEM_PLACES) or ("/__pycache__/" in path and ".pyc" in path):
        return True
    return any(path == str(place) or path.startswith(str(place) + "/") for place in places)


def examine(command: str, exit_code: int, log: str, sandbox: Sandbox, places: tuple[Path, ...]) -> Finding:
    finding = Finding(command, exit_code)
    outside: set[str] = set()
    for name, args, result in calls(log):
        if name in ("socket", "connect", "bind", "sendto", "sendmsg", "sendmmsg"):
            check_network(name, args, finding)
            continue
        path = written_path(name, args, result, sandbox.cwd)
        if path is None:
            continue
        if allowed(path, (*places, sandbox.tmp)):
            finding.writes_inside += 1
        else:
            outside.add(path)
    finding.writes_outside = sorted(outside)
    return finding


@dataclass
class Trial:
    """The sandbox, and each command's finding in order."""

    sandbox: Sandbox
    strace: str
    findings: list[Finding] = field(default_factory=list)
    log: Callable[[str], None] = print

    def traced(self, *args: str) -> list[str]:
        log = self.sandbox.root / "strace.log"
        return [self.strace, "-f", "-qq", "-y", "-s", "512", "-e", f"trace={TRACED}", "-o", str(log), *self._cli(*args)]

    @staticmethod
    def _cli(*args: str) -> list[str]:
        return [sys.executable, "-m", "photoface", *args]

    def run(self, *args: str, writes: tuple[Path, ...] = ()) -> subprocess.CompletedProcess:
        """One command under strace; its finding is recorded."""
        started = time.perf_counter()
        done = subprocess.run(self.traced(*args), check=False, timeout=900, **self._where())
        command = " ".join(args).replace(str(self.sandbox.root), "SANDBOX")
        self._record(command, done.returncode, writes)
        self.log(f"{command}: exit {done.returncode} in {time.perf_counter() - started:.1f} s")
        if done.returncode != 0:
            self.log(done.stderr.strip()[-2000:])
        return done

    def _record(self, command: str, exit_code: int, writes: tuple[Path, ...]) -> None:
        log = (self.sandbox.root / "strace.log").read_text(errors="replace")
        places = (self.sandbox.catalog_folder, *writes)
        self.findings.append(examine(command, exit_code, log, self.sandbox, places))

    def _where(self) -> dict:
        return {"env": self.sandbox.env(), "cwd": self.sandbox.cwd, "capture_output": True, "text": True}

    def plain(self, *args: str) -> str:
        """A command's output, not traced (to learn ids for the next commands)."""
        done = subprocess.run(self._cli(*args), check=False, **self._where())
        return done.stdout

    def serve(self, idle: float, browse: Callable[[str], None]) -> None:
        """``serve`` under strace: a browser's requests, then ``idle`` seconds of nothing."""
        process = subprocess.Popen(
            self.traced("serve", "--port", "0"),
            env=self.sandbox.env(),
            cwd=self.sandbox.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            url = _served_url(process)
            browse(url)
            self.log(f"serve: pages browsed at {url}; idle for {idle:.0f} s")
            time.sleep(idle)
            browse(url)
        finally:
            _stop_traced(process)
        # Ctrl-C ends serve; strace passes the traced process's exit status on.
        code = 0 if process.returncode in (0, 130, -2) else process.returncode
        self._record("serve (browsed, then idle)", code, ())


def _stop_traced(process: subprocess.Popen) -> None:
    """Ctrl-C for the process strace runs (strace itself would only detach and leave it running)."""
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    with contextlib.suppress(OSError):
        for child in children.read_text().split():
            os.kill(int(child), signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _served_url(process: subprocess.Popen) -> str:
    deadline = time.monotonic() + 120
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(
                f"serve ended before it printed its URL: {process.stderr.read() if process.stderr else ''}"
            )
        if found := re.search(r"http://127\.0\.0\.1:\d+/\S*", line):
            return found.group(0)
    raise RuntimeError("serve printed no URL within 120 s")


PAGES = ("", "people", "unassigned", "review", "people?format=json")


def browse_with_chromium(chromium: Path) -> Callable[[str], None]:
    """Open each page in a real headless Chromium, images and scripts included."""

    def browse(url: str) -> None:
        from playwright.sync_api import sync_playwright

        base = url.split("?", maxsplit=1)[0].rstrip("/")
        with sync_playwright() as driver:
            browser = driver.chromium.launch(
                executable_path=str(chromium),
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
            )
            page = browser.new_page()
            page.goto(url)  # the first URL carries the session token
            for path in PAGES:
                page.goto(f"{base}/{path}")
            links = page.eval_on_selector_all("a[href^='/people/'], a[href^='/photos/']", "els => els.map(e => e.href)")
            for link in links[:5]:
                page.goto(link)
            browser.close()

    return browse


def browse_with_http(url: str) -> None:
    """Plain HTTP requests, where no browser is installed (the cookie jar keeps the session)."""
    import http.cookiejar
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    base = url.split("?", maxsplit=1)[0].rstrip("/")
    opener.open(url, timeout=30).read()
    for path in PAGES:
        opener.open(f"{base}/{path}", timeout=30).read()


def run_trial(
    photos: Path, idle: float, browse: Callable[[str], None], *, root: Path, log: Callable[[str], None] = print
) -> Trial:
    """Every command the promise covers, in the order a user runs them."""
    strace = shutil.which("strace")
    if strace is None:
        raise RuntimeError("strace is not installed: apt-get install strace")
    sandbox = Sandbox(root)
    shutil.copytree(photos, sandbox.photos, dirs_exist_ok=True)  # regions export writes beside them
    trial = Trial(sandbox, strace, log=log)
    trial.run("scan", str(sandbox.photos), "--jobs", "2")
    trial.run("cluster")
    trial.run("status")
    people = json.loads(trial.plain("people", "--json") or "[]")
    if people:
        trial.run("name", str(people[0]["id"]), "Alice")
    trial.run("people")
    trial.run("suggest")
    trial.run("find", "Alice")
    sample = str(next(path for path in sorted(sandbox.photos.rglob("*.jpg"))))
    trial.run("identify", sample)
    trial.run("find", "--like", sample)
    trial.run("report", "-o", str(sandbox.output / "report"), writes=(sandbox.output,))
    trial.run("regions", "export", writes=(sandbox.photos,))
    trial.serve(idle, browse)
    leftovers = sandbox.leftovers()
    if leftovers:
        trial.findings.append(
            Finding("(afterwards) files left in home, XDG, temp or working folders", 0, [], [], leftovers)
        )
    return trial


def table(trial: Trial) -> str:
    """One row per command: what it opened and wrote."""
    rows = [
        ("command", "exit", "TCP sockets", "other sockets", "non-loopback / DNS", "written inside", "written outside")
    ]
    for f in trial.findings:
        rows.append(
            (
                f.command,
                str(f.exit_code),
                str(f.inet_sockets),
                ", ".join(sorted(set(f.sockets))) or "none",
                ", ".join(sorted(set(f.addresses))[:3]) or "none",
                str(f.writes_inside),
                "; ".join(f.writes_outside[:3])
                + (f" (+{len(f.writes_outside) - 3})" if len(f.writes_outside) > 3 else "")
                or "none",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)


def _listed(paths: list[str], most: int = 3) -> str:
    more = f" (+{len(paths) - most} more)" if len(paths) > most else ""
    return "; ".join(paths[:most]) + more if paths else "none"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="a small folder of photos (copied)")
    parser.add_argument("--idle", type=float, default=70.0, help="seconds serve stays idle (telemetry fired at ~10)")
    parser.add_argument(
        "--chromium", type=Path, default=Path(os.environ.get("PHOTOFACE_CHROMIUM", "/usr/bin/chromium"))
    )
    parser.add_argument("--keep", action="store_true", help="keep the sandbox folder and print where it is")
    args = parser.parse_args()
    if not args.photos.is_dir():
        print(f"error: {args.photos} is not a folder of photos: pass --photos DIR", file=sys.stderr)
        return 2
    browse = browse_with_chromium(args.chromium) if args.chromium.exists() else browse_with_http
    root = Path(tempfile.mkdtemp(prefix="photoface-privacy-"))
    try:
        trial = run_trial(args.photos, args.idle, browse, root=root)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(table(trial))
    clean = all(f.clean for f in trial.findings)
    print("nothing left the machine; nothing written outside photoface's places" if clean else "FOUND the above")
    from benchmarks.common import write_result

    write_result("privacy", {"idle_s": args.idle, "clean": clean, "findings": [f.__dict__ for f in trial.findings]})
    if args.keep:
        print(f"sandbox kept at {root}")
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
