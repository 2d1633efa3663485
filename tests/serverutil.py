"""A real uvicorn server in a subprocess, for tests that need real sockets and workers.

``with running_server(db_url, tmp_path, workers=2) as base_url: ...`` starts
``uvicorn --factory oflocal.web.asgi:app_from_env`` on a free 127.0.0.1 port with the
``OFLOCAL_*`` environment pointing at ``db_url``, waits for ``/api/v1/health`` and stops
the server (its whole process group) afterwards. The server's output is kept in
``tmp_path/uvicorn.log`` and shown if it fails to start.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> bool:
    """True when the server answers; False if it exited (e.g. the port was taken)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"uvicorn did not answer within {timeout:.0f} s:\n{log.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextlib.contextmanager
def running_server(
    db_url: str, data_dir: Path, *, workers: int = 1, secret: str | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[str]:
    """Serve oflocal on ``db_url``; yields the base URL (``http://127.0.0.1:PORT``).

    ``env`` adds or overrides ``OFLOCAL_*`` settings for the server."""
    environment = {
        **os.environ,
        "OFLOCAL_DATABASE_URL": db_url,
        "OFLOCAL_SECRET_KEY": secret or os.environ["OFLOCAL_SECRET_KEY"],
        "OFLOCAL_DATA_DIR": str(data_dir),
        **(env or {}),
    }
    log_path = data_dir / "uvicorn.log"
    for _attempt in range(3):  # another process may grab the free port before uvicorn
        port = free_port()
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [
                    sys.executable, "-m", "uvicorn", "--factory",
                    "oflocal.web.asgi:app_from_env",
                    "--host", "127.0.0.1", "--port", str(port),
                    "--workers", str(workers),
                    "--no-access-log", "--log-level", "warning",
                ],
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        base = f"http://127.0.0.1:{port}"
        try:
            if _wait_ready(proc, base + "/api/v1/health", log_path, timeout=60):
                break
        except BaseException:
            _stop(proc)
            raise
    else:
        raise RuntimeError(f"uvicorn would not start:\n{log_path.read_text()}")
    try:
        yield base
    finally:
        _stop(proc)


def server_log(data_dir: Path) -> str:
    path = data_dir / "uvicorn.log"
    return path.read_text(errors="replace") if path.exists() else ""
