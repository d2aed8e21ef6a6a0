"""``photoface serve``: review and name people in the browser (see ``app.py``)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from pathlib import Path

from photoface.errors import PhotofaceError

LOOPBACK = "127.0.0.1"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound and listening before anything is printed: a port in use is a
    clear error, and a client that connects as soon as it reads the URL waits in the backlog
    until the server accepts (only bound, it would be refused)."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Connections inherit it (Linux): without it a response written as headers, then body,
        # waits for the client's delayed ACK (Nagle): 40 ms on every request.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(128)
    except (socket.gaierror, UnicodeError) as exc:  # before OSError: gaierror is one
        raise PhotofaceError(f"--host {host!r} is not an address of this machine") from exc
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise PhotofaceError(f"cannot listen on {host}:{port} ({reason}): choose another --port or --host") from exc
    return sock


def serve(catalog_path: Path, sock: socket.socket, *, ready: Callable[[str], None]) -> None:
    """Serve the catalog on ``sock`` until Ctrl-C; ``ready(url)`` gets the URL with the token."""
    import uvicorn

    from photoface.web.app import create_app
    from photoface.web.security import Secrets

    host, port = sock.getsockname()[:2]
    keys = Secrets(port=port)
    app = create_app(catalog_path, keys)
    shown = f"[{host}]" if ":" in host else ("127.0.0.1" if host in {"0.0.0.0", ""} else host)
    # uvicorn logs nothing of its own (log_config=None, no access log): photoface prints its lines.
    config = uvicorn.Config(app, log_config=None, access_log=False, log_level="warning", server_header=False)
    server = uvicorn.Server(config)
    ready(f"http://{shown}:{port}/?token={keys.token}")
    server.run(sockets=[sock])
