"""SQLite's writers take turns in a queue instead of spinning on the database lock.

SQLite lets one transaction write at a time. A writer that finds the lock taken sleeps
and retries (its busy handler: 1, 2, 5 … 100 ms naps), so under load a redemption could
wait hundreds of milliseconds for a lock that was free after one. Here every write
transaction first waits for its turn: in this process in a first-come, first-served
queue (the thread before it hands the turn over when it ends), and across processes on
an exclusive ``flock`` of a file beside the database, which the kernel hands to the next
process the moment it is let go. Only the head of each process's queue waits on the
file, so the busy handler is left for writers outside oflocal (a ``sqlite3`` shell).

PostgreSQL needs none of this: its writers wait on the rows they touch.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# As long as SQLite's own busy timeout (engine.py): a turn not given in that time means
# a writer is stuck, and the request fails instead of waiting forever.
TURN_TIMEOUT = 30.0
YIELD_AFTER, YIELD = 0.001, 0.0002  # see _lock_file


class WriterQueue:
    """First come, first served turns to write one SQLite file, in this process and
    (with ``lock_path``) across processes."""

    def __init__(self, lock_path: Path | None) -> None:
        self.lock_path = lock_path
        self._mutex = threading.Lock()
        self._held = False
        self._waiting: deque[threading.Event] = deque()
        self._fd: int | None = None
        self._let_go = 0.0

    @contextmanager
    def turn(self) -> Iterator[None]:
        self._wait_in_process()
        try:
            self._lock_file()
        except BaseException:
            self._next()
            raise
        try:
            yield
        finally:
            self._unlock_file()
            self._next()

    def _wait_in_process(self) -> None:
        with self._mutex:
            if not self._held:
                self._held = True
                return
            mine = threading.Event()
            self._waiting.append(mine)
        if mine.wait(TURN_TIMEOUT):
            return  # handed over by the writer before us
        with self._mutex:
            if mine.is_set():
                return  # handed over just as the wait ran out
            self._waiting.remove(mine)
        raise TimeoutError(f"no turn to write the database within {TURN_TIMEOUT:.0f} s")

    def _next(self) -> None:
        with self._mutex:
            if self._waiting:
                self._waiting.popleft().set()  # the turn passes on; _held stays True
            else:
                self._held = False

    def _lock_file(self) -> None:
        if self.lock_path is None:
            return
        if self._fd is None:
            self._fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        if time.monotonic() - self._let_go < YIELD_AFTER:
            # The kernel wakes another process's writer when we let the file go but does
            # not hand it the lock: our next writer, already running, would take it back
            # first, again and again. A moment's pause lets the woken one in.
            time.sleep(YIELD)
        fcntl.flock(self._fd, fcntl.LOCK_EX)  # sleeps in the kernel, without the GIL

    def _unlock_file(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            self._let_go = time.monotonic()


_queues: dict[str, WriterQueue] = {}
_queues_mutex = threading.Lock()


def queue_for(database_path: str | None) -> WriterQueue:
    """The process's one queue for a SQLite file (every Database on it shares it);
    an in-memory database gets a queue of its own, without a file."""
    if not database_path or database_path == ":memory:":
        return WriterQueue(None)
    path = Path(database_path).resolve()
    with _queues_mutex:
        queue = _queues.get(str(path))
        if queue is None:
            queue = _queues[str(path)] = WriterQueue(path.with_name(path.name + "-writers.lock"))
        return queue


def _forget_after_fork() -> None:
    # A forked child must not inherit a turn held by a thread of its parent.
    global _queues_mutex
    _queues.clear()
    _queues_mutex = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)
