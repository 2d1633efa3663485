"""SQLite's writers take turns (db/writers.py): first come, first served in a process,
one at a time across processes, and a turn that never comes fails instead of hanging.

The queue itself touches no database; the last test runs real write transactions of a
SQLite Database from threads of two processes (PostgreSQL has no queue to test).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from oflocal.db import writers
from oflocal.db.engine import Database
from oflocal.db.writers import WriterQueue, queue_for


def _wait_for(condition, seconds: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_turns_are_first_come_first_served(tmp_path: Path) -> None:
    queue = WriterQueue(tmp_path / "w.lock")
    order: list[int] = []
    threads = []
    with queue.turn():
        for i in range(8):
            thread = threading.Thread(target=lambda i=i: _take(queue, order, i))
            thread.start()
            threads.append(thread)
            _wait_for(lambda i=i: len(queue._waiting) == i + 1)  # queued in this order
    for thread in threads:
        thread.join(5)
    assert order == list(range(8))


def _take(queue: WriterQueue, order: list[int], i: int) -> None:
    with queue.turn():
        order.append(i)


def test_a_turn_that_never_comes_fails_and_leaves_the_queue_working(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writers, "TURN_TIMEOUT", 0.2)
    queue = WriterQueue(tmp_path / "w.lock")
    failed: list[BaseException] = []

    def impatient() -> None:
        try:
            with queue.turn():
                pass
        except TimeoutError as error:
            failed.append(error)

    with queue.turn():
        thread = threading.Thread(target=impatient)
        thread.start()
        thread.join(5)
    assert len(failed) == 1 and "30" not in str(failed[0])
    assert not queue._waiting and not queue._held
    with queue.turn():  # the next writer gets its turn at once
        pass


def test_one_file_one_queue_in_a_process(tmp_path: Path) -> None:
    db_file = tmp_path / "x.db"
    assert queue_for(str(db_file)) is queue_for(str(tmp_path / "." / "x.db"))
    assert queue_for(":memory:") is not queue_for(":memory:")
    assert queue_for(str(db_file)).lock_path == tmp_path / "x.db-writers.lock"


_HOLDER = r"""
import os, sys, threading, time
from oflocal.db.writers import queue_for

queue = queue_for(sys.argv[1])
inside = sys.argv[1] + ".inside"
def work():
    for _ in range(int(sys.argv[2])):
        with queue.turn():
            # O_EXCL: creating the marker fails if another writer, of any process, is inside
            fd = os.open(inside, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            time.sleep(0.0005)
            os.close(fd)
            os.unlink(inside)
threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
"""


def test_threads_of_three_processes_hold_the_turn_one_at_a_time(tmp_path: Path) -> None:
    database = str(tmp_path / "turns.db")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    processes = [subprocess.Popen([sys.executable, "-c", _HOLDER, database, "40"], env=env,
                                  stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [(p.wait(120), p.stderr.read() if p.stderr else "") for p in processes]
    assert results == [(0, "")] * 3
    assert (tmp_path / "turns.db-writers.lock").exists()


def test_a_sqlite_database_writes_through_its_queue(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'q.db'}")
    queue = queue_for(str(tmp_path / "q.db"))
    with db.write() as session:
        assert queue._held  # the write holds the turn...
        session.execute(text("CREATE TABLE t (n INTEGER)"))
        with db.write():  # ...and a write opened inside it joins it, without a turn
            pass
    assert not queue._held
