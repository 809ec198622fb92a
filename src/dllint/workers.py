"""Running phase 1 so that no file can take the run, or the other files' findings, down with it.

Two guards, both used by :mod:`dllint.engine`:

* :class:`AnalysisThread` — a deep stack under a budget. Each file is analysed in a thread
  whose C stack is large (512 MiB of address space, committed only as far as it is used)
  with Python's recursion limit raised to match, so the depth of the code is not what limits
  its analysis: LibCST's parser and visitors recurse once per level of nesting, and the
  semantics follow a chain of 1000 assignments as deeply. What limits it is a CPU-time
  budget per file: a file that runs over is interrupted (an exception raised asynchronously
  in the thread, :class:`BudgetExceeded`) and reported as one finding, and the thread is
  replaced by a fresh one.
* :class:`WorkerPool` — worker processes that may die. Native code can still crash (a
  segfault in a parser, the kernel's out-of-memory killer): each worker tells the parent
  which file it starts and sends each file's result as soon as it has it, so when one dies
  the parent knows the file it held. That file is reported (:class:`Crashed`), the rest of
  its chunk goes to a fresh worker, and every other file is analysed as usual. A worker
  stuck in native code past a hard wall-clock limit is killed the same way (:class:`TimedOut`).
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections import deque
from typing import Any, Callable, Optional, Sequence

# Tried in order: an address-space limit (ulimit -v) may refuse the largest.
STACK_SIZES = (512 * 1024 * 1024, 128 * 1024 * 1024, 32 * 1024 * 1024)
# C stack that one level of Python recursion may take when it passes through C (a call made
# by a builtin, a constructor, a comparison): about 1.1 KiB measured on CPython 3.11; four
# times that keeps RecursionError ahead of a stack overflow.
_STACK_BYTES_PER_FRAME = 4096
# What Python starts with: what `python file.py` allows (the pre-screen runs under it).
DEFAULT_RECURSION_LIMIT = sys.getrecursionlimit()


class BudgetExceeded(BaseException):
    """Raised in the analysis thread when its file has used up its budget, and then by
    :meth:`AnalysisThread.call`: ``kind`` is "cpu" (its CPU-time budget) or "wall" (the
    wall-clock limit: the thread was blocked), ``seconds`` the limit it reached.

    A BaseException, so that the ``except Exception`` guards around rules and semantics do
    not swallow it."""

    def __init__(self, kind: str = "cpu", seconds: float = 0.0) -> None:
        super().__init__(kind, seconds)
        self.kind = kind
        self.seconds = seconds


class AnalysisThread:
    """A thread with a deep stack that runs one call at a time, each under a CPU-time budget."""

    def __init__(self) -> None:
        self._thread: Optional[threading.Thread] = None
        self._jobs: Any = None
        self.recursion_limit = DEFAULT_RECURSION_LIMIT

    def call(self, function: Callable[[], Any], budget: float, wall_limit: float) -> Any:
        """``function()`` in the deep thread; :class:`BudgetExceeded` once it has used
        ``budget`` seconds of CPU time (wall-clock time where the platform cannot tell), or
        ``wall_limit`` seconds of wall-clock time."""
        job = _Job(function)
        self._start()
        previous = sys.getrecursionlimit()
        sys.setrecursionlimit(max(previous, self.recursion_limit))
        try:
            self._jobs.put(job)
            overrun = self._wait(job, budget, wall_limit)
            if overrun is not None:
                self._interrupt(job)
                raise overrun
        finally:
            sys.setrecursionlimit(previous)
        if job.error is not None:
            raise job.error
        return job.result

    def close(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)
            self._thread = None

    def _start(self) -> None:
        if self._thread is not None:
            return
        import queue

        jobs: Any = queue.SimpleQueue()
        previous = threading.stack_size()
        try:
            for size in STACK_SIZES:
                try:
                    threading.stack_size(size)
                    thread = threading.Thread(target=_serve, args=(jobs,), name="dllint-analysis", daemon=True)
                    thread.start()
                except (RuntimeError, ValueError, MemoryError):
                    continue  # no room for a stack this large: try a smaller one
                self.recursion_limit = max(DEFAULT_RECURSION_LIMIT, size // _STACK_BYTES_PER_FRAME)
                break
            else:
                threading.stack_size(previous)
                thread = threading.Thread(target=_serve, args=(jobs,), name="dllint-analysis", daemon=True)
                thread.start()
                self.recursion_limit = DEFAULT_RECURSION_LIMIT
        finally:
            threading.stack_size(previous)
        self._thread, self._jobs = thread, jobs

    def _wait(self, job: "_Job", budget: float, wall_limit: float) -> Optional[BudgetExceeded]:
        """None when the job finished within its limits, else the limit it reached."""
        if job.done.wait(min(budget, wall_limit, 0.5)):
            return None  # the common case: a small file, one wait
        clock = _cpu_clock(self._thread)
        while True:
            wall = time.monotonic() - job.started
            used = time.clock_gettime(clock) - job.cpu_started if clock is not None else wall
            if job.done.is_set():
                return None
            if used >= budget:
                return BudgetExceeded("cpu", budget)
            if wall >= wall_limit:
                return BudgetExceeded("wall", wall_limit)
            job.done.wait(min(budget - used, wall_limit - wall, 1.0))

    def _interrupt(self, job: "_Job") -> None:
        """Raise BudgetExceeded in the thread, give it a moment to unwind, and retire it:
        the next call gets a fresh thread (no exception can be left pending for it)."""
        thread = self._thread
        self._thread = None
        if thread is None or thread.ident is None:
            return
        import ctypes

        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(BudgetExceeded))
        self._jobs.put(None)  # once it has unwound, it stops
        job.done.wait(1.0)  # native code (a parser) only sees the exception when it returns


class _Job:
    __slots__ = ("function", "result", "error", "done", "started", "cpu_started")

    def __init__(self, function: Callable[[], Any]) -> None:
        self.function = function
        self.result: Any = None
        self.error: Optional[BaseException] = None
        self.done = threading.Event()
        self.started = time.monotonic()
        self.cpu_started = 0.0  # the analysis thread's CPU clock when it took the job


def _serve(jobs: Any) -> None:
    while True:
        try:
            job = jobs.get()
            if job is None:
                return
            job.started, job.cpu_started = time.monotonic(), time.thread_time()
            try:
                job.result = job.function()
            except BaseException as error:  # noqa: BLE001 - handed to the caller, re-raised there
                job.error = error
            finally:
                job.done.set()
        except BudgetExceeded:
            continue  # arrived after its job had finished: nothing to undo


def _cpu_clock(thread: Optional[threading.Thread]) -> Optional[int]:
    if thread is None or thread.ident is None or not hasattr(time, "pthread_getcpuclockid"):
        return None
    try:
        return time.pthread_getcpuclockid(thread.ident)
    except OSError:
        return None


# --- worker processes that may die -------------------------------------------------------------

class Crashed:
    """The worker holding a file died (a signal, or an exit nobody asked for)."""

    __slots__ = ("exitcode", "phase")

    def __init__(self, exitcode: Optional[int], phase: str) -> None:
        self.exitcode = exitcode
        self.phase = phase  # what it was doing with the file: "reading", "parsing", "analysing"

    def describe(self) -> str:
        """How the worker ended: "was killed by SIGSEGV", "exited with status 3"."""
        code = self.exitcode
        if code is None or code >= 0:
            return f"exited with status {code}"
        try:
            how = f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            how = f"was killed by signal {-code}"
        if -code == getattr(signal, "SIGKILL", 9):
            how += " (perhaps by the system, for using too much memory)"
        return how


class TimedOut:
    """The worker holding a file went past the hard wall-clock limit and was killed."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


# Set in a worker process: where it reports the phase of the file it holds. Sends are locked:
# an analysis thread retired over its budget may still be running when the next file starts.
_progress: Any = None
_current: Optional[int] = None
_sending = threading.Lock()


def report_phase(phase: str) -> None:
    """Tell the parent (if this is a worker) what the worker is doing with its current file,
    so a crash can be described ("the parser crashed on this file")."""
    current = _current
    if _progress is not None and current is not None:
        _send(("phase", current, phase))


def _send(message: tuple) -> None:
    with _sending:
        _progress.send(message)


class _Worker:
    __slots__ = ("process", "conn", "chunk", "done", "current", "phase", "started", "idle")

    def __init__(self, process: Any, conn: Any) -> None:
        self.process = process
        self.conn = conn
        self.chunk: list[int] = []
        self.done: set[int] = set()
        self.current: Optional[int] = None
        self.phase = "reading"
        self.started = 0.0
        self.idle = True


class WorkerPool:
    """Processes that each take a chunk of work items and send back one output per item.

    ``run_one(item)`` is called in the worker for each item (it must be a module-level
    function); ``initializer(*initargs)`` once when a worker starts.
    """

    def __init__(
        self, workers: int, run_one: Callable[[Any], Any], initializer: Callable[..., None], initargs: tuple = (),
        start_method: Optional[str] = None,
    ) -> None:
        import multiprocessing

        # fork is much the fastest start (a worker inherits what is imported); use it where it
        # is safe and the default (Linux), else the platform's default. A process with threads
        # that may hold locks (a language server reading its stdin) passes another method.
        method = start_method or ("fork" if sys.platform.startswith("linux") else None)
        self._context = multiprocessing.get_context(method)
        self.size = max(1, workers)
        self._run_one = run_one
        self._initializer = initializer
        self._initargs = initargs
        self._workers: list[_Worker] = []

    def run(
        self,
        items: Sequence[Any],
        chunks: Sequence[Sequence[int]],
        hard_limit: Callable[[int], float],
    ) -> dict[int, Any]:
        """Outputs by item index; an item whose worker died or was killed gets a
        :class:`Crashed` or :class:`TimedOut` instead."""
        from multiprocessing.connection import wait

        outputs: dict[int, Any] = {}
        queue: deque[list[int]] = deque(list(chunk) for chunk in chunks if chunk)
        failures_before_start = 0
        try:
            while queue or any(not worker.idle for worker in self._workers):
                while queue:
                    worker = self._idle_worker()
                    if worker is None:
                        break
                    chunk = queue.popleft()
                    worker.chunk, worker.done, worker.current, worker.idle = chunk, set(), None, False
                    try:
                        worker.conn.send([(index, items[index]) for index in chunk])
                    except OSError:
                        pass  # it has died: the next drain sees it and the chunk goes to another
                busy = [worker for worker in self._workers if not worker.idle]
                waitables: list[Any] = [w.conn for w in busy] + [w.process.sentinel for w in busy]
                wait(waitables, timeout=self._next_deadline(busy, hard_limit))
                for worker in busy:
                    died = self._drain(worker, outputs)
                    if not died and worker.current is not None:
                        limit = hard_limit(worker.current)
                        if time.monotonic() - worker.started > limit:
                            worker.process.kill()
                            worker.process.join()
                            outputs[worker.current] = TimedOut(limit)
                            died = True
                    if not died:
                        if worker.done.issuperset(worker.chunk):
                            worker.idle = True
                        continue
                    rest = [index for index in worker.chunk if index not in worker.done and index not in outputs]
                    if worker.current is None or worker.current in worker.done:
                        failures_before_start += 1
                        if failures_before_start > 2:  # workers die before any file: give up on these
                            for index in rest:
                                outputs[index] = Crashed(worker.process.exitcode, "starting")
                            rest = []
                    elif worker.current not in outputs:
                        outputs[worker.current] = Crashed(worker.process.exitcode, worker.phase)
                        rest = [index for index in rest if index != worker.current]
                    self._retire(worker)
                    if rest:
                        queue.appendleft(rest)
        except BaseException:
            self.close(kill=True)
            raise
        return outputs

    def close(self, kill: bool = False) -> None:
        for worker in list(self._workers):  # (_retire removes it from the list)
            self._retire(worker, kill=kill)

    def _idle_worker(self) -> Optional[_Worker]:
        for worker in self._workers:
            if worker.idle:
                return worker
        if len(self._workers) >= self.size:
            return None
        parent_end, child_end = self._context.Pipe()
        # A forked worker inherits the parent's ends of every pipe: it closes them, or the
        # workers would keep each other's pipes open after the parent died (and never see EOF).
        inherited = (parent_end, *(w.conn for w in self._workers)) if self._context.get_start_method() == "fork" else ()
        process = self._context.Process(
            target=_worker_main,
            args=(child_end, inherited, self._run_one, self._initializer, self._initargs),
            name="dllint-worker",
            daemon=True,
        )
        process.start()
        child_end.close()
        worker = _Worker(process, parent_end)
        self._workers.append(worker)
        return worker

    def _drain(self, worker: _Worker, outputs: dict[int, Any]) -> bool:
        """Read what the worker sent; True when it has died (or its pipe broke)."""
        try:
            while worker.conn.poll():
                message = worker.conn.recv()
                kind, index = message[0], message[1]
                if kind == "start":
                    worker.current, worker.phase, worker.started = index, "reading", time.monotonic()
                elif kind == "phase":
                    if index == worker.current:
                        worker.phase = message[2]
                else:
                    outputs[index] = message[2]
                    worker.done.add(index)
        except (EOFError, OSError):
            worker.process.join()
            return True
        if not worker.process.is_alive():
            worker.process.join()
            return True
        return False

    def _retire(self, worker: _Worker, kill: bool = False) -> None:
        if worker in self._workers:
            self._workers.remove(worker)
        if worker.process.is_alive():
            if kill:
                worker.process.kill()
            else:
                try:
                    worker.conn.send(None)
                except OSError:
                    worker.process.kill()
            worker.process.join()
        worker.conn.close()

    @staticmethod
    def _next_deadline(busy: Sequence[_Worker], hard_limit: Callable[[int], float]) -> Optional[float]:
        now = time.monotonic()
        remaining = [
            worker.started + hard_limit(worker.current) - now for worker in busy if worker.current is not None
        ]
        return max(0.0, min(remaining)) + 0.01 if remaining else 1.0


def _worker_main(
    conn: Any, inherited: Sequence[Any], run_one: Callable[[Any], Any], initializer: Callable[..., None], initargs: tuple
) -> None:
    global _progress, _current
    import os

    for other in inherited:
        other.close()
    parent = os.getppid()
    initializer(*initargs)
    _progress = conn
    while True:
        try:
            while not conn.poll(1.0):
                if os.getppid() != parent:
                    return  # the parent died (a SIGKILL): nobody will read what this worker does
            chunk = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if chunk is None:
            return
        for index, item in chunk:
            _current = index
            _send(("start", index))
            output = run_one(item)
            _current = None
            _send(("done", index, output))
