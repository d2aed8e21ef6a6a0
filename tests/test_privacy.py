"""Nothing leaves the machine, nothing is written outside photoface's own places (issue 20).

The trial (``benchmarks/privacy.py``) runs the real CLI under strace in a sandbox of empty
HOME, XDG and temp folders. On the code before the fix it found onnxruntime's telemetry: a
device id and an event database under ~/.cache/Microsoft in every command, and DNS queries
for Microsoft's collector from ``serve`` and ``scan`` about 10 s after start.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import privacy
from tests.conftest import REPO

CHROMIUM = Path(os.environ.get("PHOTOFACE_CHROMIUM", "/usr/bin/chromium"))


def _needed(what: str, present: bool, install: str) -> None:
    if present:
        return
    reason = f"{what} is not installed ({install})"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.mark.data
def test_no_command_opens_a_network_socket_or_writes_outside_its_places(fivecelebs, tmp_path):
    """scan (worker processes), cluster, name, suggest, identify, find --like, report, regions
    export, and serve browsed by Chromium then idle for a minute (telemetry fired at ~10 s)."""
    _needed("strace", shutil.which("strace") is not None, "apt-get install strace")
    _needed(f"a browser at {CHROMIUM}", CHROMIUM.exists(), "apt-get install chromium, or set PHOTOFACE_CHROMIUM")
    trial = privacy.run_trial(fivecelebs, 60, privacy.browse_with_chromium(CHROMIUM), root=tmp_path, log=print)
    report = privacy.table(trial)
    print(report)
    commands = [finding.command.split()[0] for finding in trial.findings]
    assert {"scan", "cluster", "suggest", "identify", "find", "report", "regions", "serve"} <= set(commands), report
    assert all(finding.clean for finding in trial.findings), report
    # The checks saw real activity: the catalog was written, serve listened on loopback TCP.
    assert trial.findings[0].writes_inside > 0
    assert trial.findings[-1].inet_sockets >= 1, report


@pytest.mark.parametrize(
    "args",
    [
        ["--version"],
        ["status"],
        ["people"],
        ["faces"],
        ["find", "Nobody"],
        ["name", "1", "Alice"],
        ["merge", "1", "2"],
        ["suggest"],
        ["regions", "export", "--dry-run"],
    ],
)
def test_commands_that_run_no_model_do_not_load_onnxruntime(args, tmp_path):
    """``-X importtime`` lists every module a process imports, whatever the command's outcome."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "photoface", "--db", str(tmp_path / "c.db"), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "photoface.cli" in imported, done.stderr[-500:]
    assert "onnxruntime" not in imported


WEB_MODULES = "photoface.web.app, photoface.web.views.people, photoface.web.views.review, photoface.web.views.faces"


def test_the_serve_pages_do_not_load_onnxruntime():
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, photoface.web.app, photoface.web.views.people; print('onnxruntime' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    assert done.stdout.strip() == "False"


def test_reporting_is_switched_off_even_when_the_environment_turns_it_on():
    env = {**os.environ, "ORT_DISABLE_TELEMETRY": "0", "RAY_USAGE_STATS_ENABLED": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, photoface; print(os.environ['ORT_DISABLE_TELEMETRY'], os.environ['RAY_USAGE_STATS_ENABLED'])",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=True,
    )
    assert done.stdout.split() == ["1", "0"]


def test_python_users_still_get_the_engine_from_the_package():
    from photoface import FaceEngine, load_image
    from photoface.engine import FaceEngine as EngineClass

    assert FaceEngine is EngineClass
    assert callable(load_image)
    with pytest.raises(AttributeError):
        import photoface

        _ = photoface.NoSuchThing


# The strace log reader, on lines as strace -f -y prints them.
LOG = """\
101 socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0) = 3<UNIX:[1]>
101 socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP) = 4<TCP:[2]>
101 bind(4<TCP:[2]>, {sa_family=AF_INET, sin_port=htons(0), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
102 socket(AF_INET, SOCK_DGRAM|SOCK_CLOEXEC|SOCK_NONBLOCK, IPPROTO_IP) = 8<UDP:[3]>
102 connect(8<UDP:[3]>, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.0.0.53")}, 16 <unfinished ...>
101 openat(AT_FDCWD</w>, "/s/home/.cache/x/deviceid", O_WRONLY|O_CREAT|O_TRUNC, 0666 <unfinished ...>
102 <... connect resumed>) = 0
101 <... openat resumed>) = 5</s/home/.cache/x/deviceid>
101 openat(AT_FDCWD</w>, "/s/db/catalog.db", O_RDWR|O_CREAT|O_CLOEXEC, 0644) = 6</s/db/catalog.db>
101 openat(AT_FDCWD</w>, "/etc/hosts", O_RDONLY|O_CLOEXEC) = 7</etc/hosts>
101 openat(AT_FDCWD</w>, "/s/elsewhere", O_WRONLY|O_CREAT, 0666) = -1 EACCES (Permission denied)
101 mkdirat(AT_FDCWD</w>, "rel", 0777) = 0
101 connect(9<TCP:[5]>, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), \
inet_pton(AF_INET6, "2603:1030::1", &sin6_addr), sin6_scope_id=0}, 28) = -1 ENETUNREACH
"""


def test_the_trace_reader_finds_dns_other_sockets_and_writes_outside(tmp_path):
    sandbox = privacy.Sandbox(tmp_path)
    finding = privacy.examine("x", 0, LOG, sandbox, (Path("/s/db"),))
    assert finding.sockets == ["AF_INET SOCK_DGRAM|SOCK_CLOEXEC|SOCK_NONBLOCK"]
    assert finding.inet_sockets == 1
    assert finding.addresses == ["connect 10.0.0.53:53 (DNS)", "connect 2603:1030::1:443"]
    # The failed open wrote nothing; the relative mkdir is resolved against the working folder.
    assert finding.writes_outside == ["/s/home/.cache/x/deviceid", str(sandbox.cwd / "rel")]
    assert finding.writes_inside == 1
    assert not finding.clean


def test_loopback_tcp_and_the_allowed_places_are_clean(tmp_path):
    sandbox = privacy.Sandbox(tmp_path)
    log = "\n".join(LOG.splitlines()[:3] + LOG.splitlines()[8:10])
    finding = privacy.examine("x", 0, log, sandbox, (Path("/s/db"),))
    assert finding.clean, finding


def test_a_model_loads_after_the_face_index_was_searched():
    """Loading onnxruntime lazily let usearch load first in some processes; its static
    libstdc++ then crashed onnxruntime's import (SIGSEGV). A search, then the engine."""
    code = (
        "import numpy as np; from photoface.index import FaceIndex; "
        "v = np.eye(128, dtype=np.float32)[:20]; index = FaceIndex.in_memory(np.arange(20), v); "
        "index.search(v[:2], 3); from photoface import FaceEngine; FaceEngine(device='cpu'); print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.strip() == "ok"
