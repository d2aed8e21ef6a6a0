"""Keep every dependency from reporting home: switches set before any of them loads.

photoface promises that nothing leaves the machine. Some dependencies report usage unless told
not to, and only an environment variable set before they initialise stops them for good:

- onnxruntime's official builds (1.17 on) carry Microsoft's 1DS telemetry client. At import it
  writes a device id and an event log under ``~/.cache/Microsoft/DeveloperTools`` and, about
  10 s later, looks up and posts to Microsoft's collector. ``ORT_DISABLE_TELEMETRY=1``, read when
  the runtime initialises, stops the uploader, the events and the device id (its Privacy.md);
  ``disable_telemetry_events()`` cannot, as the first event is written at import.
- Ray (``scan --ray``) sends usage statistics from ``ray.init`` unless
  ``RAY_USAGE_STATS_ENABLED=0``.

``photoface/__init__.py`` imports this module first, so every process that runs photoface code
(the CLI, worker processes, Ray actors, ``serve``) has the switches set before anything could
load those libraries; child processes inherit them through the environment. The values are set,
not defaulted: a user's ``ORT_DISABLE_TELEMETRY=0`` must not turn reporting back on inside
photoface. ``tests/test_privacy.py`` proves the result with strace.
"""

from __future__ import annotations

import os

SWITCHES = {
    "ORT_DISABLE_TELEMETRY": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
    # Ray asks on a terminal whether it may collect; the answer is already no.
    "RAY_USAGE_STATS_PROMPT_ENABLED": "0",
}


def switch_off_reporting() -> None:
    """Set every switch in this process's environment (inherited by every process it starts)."""
    os.environ.update(SWITCHES)


switch_off_reporting()
