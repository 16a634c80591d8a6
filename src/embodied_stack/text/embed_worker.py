"""An embedder in a child process, so that a long ingest overlaps embedding with its bookkeeping.

Ingest spends most of its time in the text embedder, and the rest (fusing sightings, clustering,
summarising, writing SQLite and FAISS) in Python on one core. With the embedder in a child
process the two run at once: the memory reads a few batches ahead and queues their new leaf
texts here (*prefetch*), and asks for node texts when it needs them (*urgent*: served before
the rest of the queue, between two chunks of it). There is still one embedding stream, with the
embedder's own thread setting, so the embedder's raw throughput stays the bound; what goes is
the time it used to sit idle while the memory did everything else.

The child is ``python -m embodied_stack.text.embed_worker``: it loads the embedder from the
same spec the memory uses (no download, like the memory itself), and never imports the caller's
script. It talks over its stdin/stdout in frames: a 4-byte big-endian length, a UTF-8 JSON
header, then for results the float16 rows as raw bytes. No pickle crosses the pipe. The child
exits when its stdin closes, so a killed parent leaves no orphan.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import queue
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import IO, Any

import numpy as np

from embodied_stack.text.errors import EmbedderError

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">I")
_MAX_FRAME = 1 << 30
CHUNK = 16
"""Texts the child embeds between two looks at its inbox: an urgent request waits at most this
many prefetched texts (about 0.1 s with MiniLM on one thread)."""


class EmbedWorkerError(EmbedderError):
    """The embedding child failed to start, died or answered nonsense; the caller falls back to
    embedding in its own process."""


def _write_frame(stream: IO[bytes], header: dict[str, Any], payload: bytes = b"") -> None:
    data = json.dumps(header, separators=(",", ":")).encode("utf-8")
    stream.write(_HEADER.pack(len(data)) + data + payload)
    stream.flush()


def _read_exact(stream: IO[bytes], size: int) -> bytes | None:
    parts, left = [], size
    while left:
        part = stream.read(left)
        if not part:
            return None
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _read_frame(stream: IO[bytes]) -> tuple[dict[str, Any], bytes] | None:
    """One frame (header, payload), or None at end of stream."""
    raw = _read_exact(stream, _HEADER.size)
    if raw is None:
        return None
    (length,) = _HEADER.unpack(raw)
    if length > _MAX_FRAME:
        raise EmbedWorkerError(f"embedding worker: frame header of {length} bytes")
    data = _read_exact(stream, length)
    if data is None:
        return None
    header = json.loads(data.decode("utf-8"))
    if not isinstance(header, dict):
        raise EmbedWorkerError("embedding worker: frame header is not a JSON object")
    size = int(header.get("bytes", 0))
    if not 0 <= size <= _MAX_FRAME:
        raise EmbedWorkerError(f"embedding worker: payload of {size} bytes")
    payload = _read_exact(stream, size) if size else b""
    if payload is None:
        return None
    return header, payload


class EmbedWorker:
    """The parent's handle on one embedding child (see the module docstring).

    Start it with :meth:`start`; it is usable once :meth:`poll_ready` (or :meth:`wait_ready`)
    says so. :meth:`submit` queues texts and returns a job id; :meth:`result` waits for a job,
    :meth:`completed` returns the jobs finished so far without waiting. Every vector comes back
    as float16 rows, L2-normalised by the child exactly as :class:`CachedEmbedder` would.
    """

    def __init__(self, spec: str, *, threads: int = 0, batch_size: int = 32, chunk: int = CHUNK) -> None:
        self.spec = spec
        self.threads = threads
        self.batch_size = batch_size
        self.chunk = chunk
        self.name: str | None = None
        self.dim: int | None = None
        self.ready = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._inbox: queue.Queue[tuple[dict[str, Any], bytes] | None] = queue.Queue()
        self._results: dict[int, tuple[np.ndarray, float]] = {}
        self._jobs = itertools.count(1)
        self._dead: str | None = None
        self._reader: threading.Thread | None = None
        self.started_at = 0.0
        self.startup_s: float | None = None
        self.child_rss_peak_mib: float | None = None
        self.wait_s = 0.0
        """Seconds the parent spent waiting for results (the rest of the time it worked)."""

    def start(self) -> EmbedWorker:
        """Launch the child (returns at once; the model loads in the background)."""
        env = dict(os.environ)
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TRANSFORMERS_OFFLINE", "1")
        # The child resolves imports as this process does (a source checkout, a test's path).
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        command = [sys.executable, "-m", "embodied_stack.text.embed_worker", "--spec", self.spec,
                   "--threads", str(self.threads), "--batch-size", str(self.batch_size), "--chunk", str(self.chunk)]
        self.started_at = time.perf_counter()
        try:
            self._proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                          close_fds=True)
        except OSError as err:
            raise EmbedWorkerError(f"cannot start the embedding worker: {err}") from err
        self._reader = threading.Thread(target=self._read_loop, args=(self._proc.stdout,),
                                        name="embed-worker-reader", daemon=True)
        self._reader.start()
        return self

    def _read_loop(self, stream: IO[bytes]) -> None:
        try:
            while (frame := _read_frame(stream)) is not None:
                self._inbox.put(frame)
        except (OSError, ValueError, EmbedWorkerError) as err:
            log.warning("embedding worker: unreadable reply (%s)", err)
        self._inbox.put(None)

    # --- messages -------------------------------------------------------------------------

    def _take(self, frame: tuple[dict[str, Any], bytes] | None) -> None:
        if frame is None:
            code = self._proc.poll() if self._proc is not None else None
            self._dead = self._dead or f"the embedding worker exited (code {code})"
            return
        header, payload = frame
        op = header.get("op")
        if op == "ready":
            self.name, self.dim = str(header["name"]), int(header["dim"])
            self.ready = True
            self.startup_s = time.perf_counter() - self.started_at
        elif op == "done":
            job, n = int(header["job"]), int(header["n"])
            if self.dim is None or len(payload) != n * self.dim * 2:
                self._dead = f"the embedding worker sent {len(payload)} bytes for {n} vectors"
                return
            vectors = np.frombuffer(payload, dtype=np.float16).reshape(n, self.dim)
            self._results[job] = (vectors, float(header.get("seconds", 0.0)))
        elif op == "stats":
            self.child_rss_peak_mib = header.get("rss_peak_mib")
        elif op == "error":
            self._dead = f"the embedding worker failed: {header.get('message')}"
        else:
            self._dead = f"the embedding worker sent an unknown message {op!r}"

    def _drain(self, timeout: float | None) -> None:
        """Take every waiting message; with a timeout, wait that long for the first one."""
        try:
            frame = self._inbox.get(timeout=timeout) if timeout else self._inbox.get_nowait()
        except queue.Empty:
            return
        self._take(frame)
        while True:
            try:
                self._take(self._inbox.get_nowait())
            except queue.Empty:
                return

    @property
    def failed(self) -> bool:
        """The child died, failed to load, or was closed."""
        return self._dead is not None

    def _check(self) -> None:
        if self._dead is not None:
            raise EmbedWorkerError(self._dead)

    def poll_ready(self) -> bool:
        """True once the child has loaded its embedder (raises if it failed to)."""
        if not self.ready:
            self._drain(None)
            self._check()
        return self.ready

    def wait_ready(self, timeout: float = 300.0) -> None:
        deadline = time.perf_counter() + timeout
        while not self.poll_ready():
            if time.perf_counter() > deadline:
                raise EmbedWorkerError(f"the embedding worker did not load its embedder in {timeout:.0f} s")
            self._drain(0.05)
            self._check()

    def submit(self, texts: Sequence[str], *, urgent: bool = False) -> int:
        """Queue texts (``urgent``: ahead of every prefetch); returns the job id."""
        self._check()
        if self._proc is None or self._proc.stdin is None:
            raise EmbedWorkerError("the embedding worker is not running")
        job = next(self._jobs)
        try:
            _write_frame(self._proc.stdin, {"op": "embed", "job": job, "urgent": urgent, "texts": list(texts)})
        except (OSError, ValueError) as err:
            self._dead = f"the embedding worker stopped reading ({err})"
            raise EmbedWorkerError(self._dead) from err
        return job

    def result(self, job: int) -> tuple[np.ndarray, float]:
        """Wait for a job: its float16 vectors and the child's seconds spent on it."""
        start = time.perf_counter()
        while job not in self._results:
            self._check()
            self._drain(0.5)
        self.wait_s += time.perf_counter() - start
        return self._results.pop(job)

    def completed(self) -> list[tuple[int, np.ndarray, float]]:
        """The jobs finished so far (without waiting)."""
        self._drain(None)
        return [(job, *self._results.pop(job)) for job in list(self._results)]

    def close(self, timeout: float = 10.0) -> None:
        """Ask the child to stop (it reports its peak memory first), then reap it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None and self._dead is None:
                _write_frame(proc.stdin, {"op": "stop"})
                proc.stdin.close()
            proc.wait(timeout=timeout)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=timeout)
        while True:
            try:
                frame = self._inbox.get_nowait()
            except queue.Empty:
                break
            if frame is not None and frame[0].get("op") == "stats":
                self._take(frame)
        self._dead = self._dead or "the embedding worker was closed"

    def __del__(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()


# --- the child ------------------------------------------------------------------------------


def _rss_peak_mib() -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def _serve(spec: str, threads: int, batch_size: int, chunk: int) -> int:
    # Only frames go to the parent: anything a library prints goes to stderr instead.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    inp = sys.stdin.buffer
    from embodied_stack.text.embedders import load_embedder

    try:
        embedder = load_embedder(spec, cache_size=1, batch_size=batch_size, threads=threads)
        embedder.embed_uncached(["warm up"])
    except Exception as err:  # report whatever stopped the load to the parent, then exit
        _write_frame(out, {"op": "error", "message": f"{type(err).__name__}: {err}"})
        return 1
    _write_frame(out, {"op": "ready", "name": embedder.name, "dim": embedder.dim, "pid": os.getpid()})
    inbox: queue.Queue[tuple[dict[str, Any], bytes] | None] = queue.Queue()

    def read() -> None:
        try:
            while (frame := _read_frame(inp)) is not None:
                inbox.put(frame)
        except (OSError, ValueError, EmbedWorkerError):
            pass
        inbox.put(None)

    threading.Thread(target=read, daemon=True).start()

    def embed(texts: list[str]) -> np.ndarray:
        return embedder.embed_uncached(texts).astype(np.float16)

    def reply(job: int, vectors: np.ndarray, seconds: float) -> None:
        data = np.ascontiguousarray(vectors, dtype=np.float16).tobytes()
        _write_frame(out, {"op": "done", "job": job, "n": len(vectors), "seconds": round(seconds, 6),
                           "bytes": len(data)}, data)

    # Prefetch jobs in arrival order: [job, texts longest first, their places, vectors, next, seconds]
    jobs: deque[list[Any]] = deque()
    while True:
        try:
            frame = inbox.get(block=not jobs)
        except queue.Empty:
            frame = ()  # type: ignore[assignment]
        while frame != ():
            if frame is None or frame[0].get("op") == "stop":
                _write_frame(out, {"op": "stats", "rss_peak_mib": _rss_peak_mib()})
                return 0
            header = frame[0]
            texts = [str(t) for t in header.get("texts", [])]
            if header.get("urgent"):
                start = time.perf_counter()
                reply(int(header["job"]), embed(texts), time.perf_counter() - start)
            else:
                order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
                jobs.append([int(header["job"]), [texts[i] for i in order], order,
                             np.empty((len(texts), embedder.dim), dtype=np.float16), 0, 0.0])
            try:
                frame = inbox.get_nowait()
            except queue.Empty:
                frame = ()  # type: ignore[assignment]
        if not jobs:
            continue
        job = jobs[0]
        start = time.perf_counter()
        at = job[4]
        part = job[1][at:at + chunk]
        if part:
            job[3][job[2][at:at + len(part)]] = embed(part)
        job[4] = at + len(part)
        job[5] += time.perf_counter() - start
        if job[4] >= len(job[1]):
            jobs.popleft()
            reply(job[0], job[3], job[5])


def _serve_quietly(spec: str, threads: int, batch_size: int, chunk: int) -> int:
    try:
        return _serve(spec, threads, batch_size, chunk)
    except (BrokenPipeError, ConnectionResetError):
        return 0  # the parent went away (killed, or closed us): nothing left to answer


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="embodied-stack embedding worker (started by the memory; "
                                                 "speaks length-prefixed frames on stdin/stdout)")
    parser.add_argument("--spec", required=True)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--chunk", type=int, default=CHUNK)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    return _serve_quietly(args.spec, args.threads, args.batch_size, max(1, args.chunk))


if __name__ == "__main__":
    sys.exit(main())
