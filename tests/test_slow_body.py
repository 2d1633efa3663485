"""A client that stops sending its body (issue 8, item 4), through a real uvicorn server.

Anyone, without logging in, could announce ``Content-Length: 1000``, send 17 bytes and
wait: the request hung until the client gave up, and its disconnect was logged as
``server.error`` with a traceback. Now the body must arrive within
``OFLOCAL_BODY_TIMEOUT_SECONDS``: a client still there is answered 408
``request.body_timeout``; one that went away is logged in one line. Either way the log
names a client fault and holds no traceback, and a one-worker server keeps answering
others meanwhile.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from serverutil import running_server, server_log

pytestmark = pytest.mark.slow

TIMEOUT = 2.0
LOGIN = "/api/v1/session/staff"  # open to anyone: no login needed to reach its body
PARTIAL = b'{"username": "ab"'  # 17 of the 1000 announced bytes


def _start_slow_body(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT + 10)
    sock.sendall(
        f"POST {LOGIN} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n".encode() + PARTIAL
    )
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _client_fault_lines(data_dir: Path, expected: int) -> list[str]:
    """The log's client-fault lines, once ``expected`` of them are written (or 5 s)."""
    deadline = time.monotonic() + 5
    while True:
        lines = [line for line in server_log(data_dir).splitlines() if "client fault" in line]
        if len(lines) >= expected or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def test_slow_body_is_refused_and_logged_as_a_client_fault(db_url: str, tmp_path: Path) -> None:
    env = {"OFLOCAL_BODY_TIMEOUT_SECONDS": str(TIMEOUT)}
    with running_server(db_url, tmp_path, workers=1, env=env) as base:
        port = int(base.rsplit(":", 1)[1])

        # (a) A client that stops sending and waits.
        waiting = _start_slow_body(port)
        started = time.monotonic()
        # Meanwhile the one worker answers others at once.
        for _ in range(3):
            sent = time.monotonic()
            with urllib.request.urlopen(base + "/api/v1/health", timeout=TIMEOUT) as answer:
                assert answer.status == 200
            assert time.monotonic() - sent < TIMEOUT / 2
        # (b) Another client that gives up mid-body.
        leaving = _start_slow_body(port)
        time.sleep(0.3)
        leaving.close()
        with urllib.request.urlopen(base + "/api/v1/health", timeout=TIMEOUT) as answer:
            assert answer.status == 200

        try:
            raw = _read_until_closed(waiting)  # the server closes the connection after 408
        except TimeoutError:
            pytest.fail("the server never answered a body that stopped half-way")
        finally:
            waiting.close()
        took = time.monotonic() - started
        head, _, body = raw.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in header_lines)
        assert status_line == "HTTP/1.1 408 Request Timeout", raw
        assert headers["connection"] == "close"
        assert headers["content-type"] == "application/json"
        error = json.loads(body)
        assert set(error) == {"code", "message", "message_ja", "message_en", "detail"}
        assert error["code"] == "request.body_timeout"
        assert error["message_en"] == (
            "The request body did not arrive within 2 seconds. Please send it again."
        )
        assert "2秒以内" in error["message_ja"]
        assert TIMEOUT - 0.2 < took < TIMEOUT + 3, took

        lines = _client_fault_lines(tmp_path, 2)

    log = server_log(tmp_path)
    assert len(lines) == 2, log
    timed_out, gone = sorted(lines, key=lambda line: "408" not in line)
    assert f"POST {LOGIN} from 127.0.0.1" in timed_out
    assert "answered 408 (17 of 1000 bytes)" in timed_out
    assert "connection closed before the whole body arrived (17 of 1000 bytes)" in gone
    for line in lines:
        assert line.startswith("WARNING"), line
    assert "Traceback" not in log
    assert "unhandled error" not in log
    assert "server.error" not in log
    assert "ERROR" not in log
