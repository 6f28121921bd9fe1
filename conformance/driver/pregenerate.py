"""The property layer's generated bodies, made in a helper process while the run does everything else.

What schemathesis generates depends only on the contract, the mode, `--max-examples` and the seed
(`generation.generate`), never on an answer, and it is the run's largest cost in CPU. So the run starts a helper
process as soon as it knows those, which generates every selected mode in order and hands each over as plain data;
the layer takes a mode's bodies when it reaches them. The helper imports this very package (not whatever a working
directory holds), is in its own session (a Ctrl-C of the terminal is the run's to handle), writes nothing but its
results, ends when the run that started it is gone, and is killed when the run ends. Whenever it cannot deliver (it
could not start, did not say hello within `HELLO_S`, died, or wrote something else), the layer generates the same
bodies in its own process: the helper changes when they are made, never what they are.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

from conformance.contract import Contract

if TYPE_CHECKING:  # imported when a helper's result is read: schemathesis is not loaded for nothing
    from conformance.driver.generation import Generated

__all__ = ["HELLO_S", "Pregenerated"]

HELLO_S = 30.0  # how long a helper may take to start (an interpreter, no import of ours yet) before it is given up
ORPHAN_POLL_S = 0.5  # how often the helper checks that the run that started it is still there
MAGIC = b"conformance-generated-1\n"  # before every frame: anything else on the helper's stdout ends the handover
_LENGTH = 8  # bytes of the big-endian length after the magic
_MOST = 1 << 30  # the largest frame taken (a mode's bodies are some hundred kilobytes)
_PACKAGE = str(Path(__file__).resolve().parents[1])  # the `conformance` package the run imported
_START = "import sys; sys.path.insert(0, sys.argv[1]); from conformance.driver.pregenerate import _main; _main()"


class Pregenerated:
    """The generated bodies of `modes`, being made in a helper process; `take(mode)` waits for one of them, or
    None when the helper cannot deliver it (the caller then generates it itself). A reader thread takes each
    result as soon as it is written, so the helper never waits for the layer."""

    def __init__(self, contract: Contract, modes: list[str], max_examples: int | None, seed: int) -> None:
        self.modes = tuple(modes)
        self.max_examples = max_examples
        self.seed = seed
        self._got: dict[str, Generated] = {}
        self._hello = False
        self._ended = False
        self._changed = threading.Condition()
        self._started = time.monotonic()
        self._process: subprocess.Popen[bytes] | None = None
        self._job = ""  # the job's file: the helper removes it once read, `close` if it never was
        if not modes or getattr(sys, "frozen", False) or not sys.executable:
            return  # a frozen application's executable does not run Python code of ours
        job = (_PACKAGE, contract.raw, contract.profile, str(contract.path), self.modes, max_examples, seed)
        try:
            handle, name = tempfile.mkstemp(prefix="conformance-job-", suffix=".pickle")
            self._job = name
            with os.fdopen(handle, "wb") as file:
                file.write(pickle.dumps(job))  # a file, not a pipe: writing it never waits for the helper
            self._process = subprocess.Popen(
                # -P: nothing from the working directory (a folder named `conformance` there is not ours)
                [sys.executable, "-P", "-c", _START, str(Path(_PACKAGE).parent), str(os.getpid()), name],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # the terminal's Ctrl-C reaches the run, which ends the helper
            )
        except (OSError, ValueError, TypeError, pickle.PicklingError, RecursionError):
            self.close()
            return
        reader = threading.Thread(target=self._read_all, name="conformance-pregenerate", daemon=True)
        reader.start()

    def take(self, mode: str, max_examples: int | None, seed: int) -> Generated | None:
        """The `Generated` of `mode` for these `--max-examples` (None: the default) and `seed` (waiting for the
        helper while it lives), or None."""
        if mode not in self.modes or (max_examples, seed) != (self.max_examples, self.seed):
            return None
        with self._changed:
            while mode not in self._got and not self._ended and self._process is not None:
                if not self._hello and time.monotonic() - self._started > HELLO_S:
                    break  # not a Python that runs us (an embedding host), or stuck starting: given up
                self._changed.wait(timeout=0.5)
            return self._got.pop(mode, None)

    def _read_all(self) -> None:
        """The reader thread: every frame the helper writes, until it ends or writes something else."""
        from conformance.driver.generation import Generated

        process = self._process
        stream = process.stdout if process is not None else None
        try:
            while stream is not None:
                got = _frame(stream)
                if got is None:
                    break
                if got == b"":
                    with self._changed:
                        self._hello = True
                    continue
                result = pickle.loads(got)
                if not isinstance(result, Generated) or result.mode not in self.modes:
                    break
                with self._changed:
                    self._got[result.mode] = result
                    self._changed.notify_all()
        except Exception:  # whatever the helper wrote, the run goes on: it generates itself
            pass
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def close(self) -> None:
        """End the helper, whatever it is doing."""
        process, self._process = self._process, None
        with self._changed:
            self._ended = True
            self._changed.notify_all()
        if self._job:
            with contextlib.suppress(OSError):
                os.unlink(self._job)
        if process is None:
            return
        with contextlib.suppress(OSError):
            process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):  # a killed process that does not end: left
            process.wait(timeout=10)
        if process.stdout is not None:
            with contextlib.suppress(OSError):
                process.stdout.close()


def _frame(stream: IO[bytes]) -> bytes | None:
    """The next frame's payload (empty: the helper's hello), or None: the stream ended or holds something else."""
    head = stream.read(len(MAGIC) + _LENGTH)
    if len(head) != len(MAGIC) + _LENGTH or not head.startswith(MAGIC):
        return None
    size = int.from_bytes(head[len(MAGIC) :], "big")
    if size > _MOST:
        return None
    data = stream.read(size)
    return data if len(data) == size else None


def _write(out: IO[bytes], data: bytes) -> None:
    out.write(MAGIC + len(data).to_bytes(_LENGTH, "big") + data)
    out.flush()


def _orphaned(parent: int) -> None:
    """End the helper once the run that started it is gone (killed without a chance to end it)."""
    while os.getppid() == parent:
        time.sleep(ORPHAN_POLL_S)
    os._exit(0)


def _main() -> None:
    """The helper (argv: the package's parent directory, the run's pid, the job's file): say hello, then write each
    mode's `Generated` on stdout as soon as it is made."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever a library prints goes where stderr goes, not into the results
    # the run that started it (it may be gone already: then the helper is an orphan from the start)
    threading.Thread(target=_orphaned, args=(int(sys.argv[2]),), daemon=True).start()
    job_file = Path(sys.argv[3])
    try:
        job = pickle.loads(job_file.read_bytes())
    finally:
        job_file.unlink(missing_ok=True)
    package, raw, profile, path, modes, max_examples, seed = job
    if package != _PACKAGE:  # another copy of the tool: what it generates could differ; the run generates itself
        return
    try:
        _write(out, b"")  # hello: a Python that runs this package
    except BrokenPipeError:
        return

    import hypothesis.configuration

    from conformance.driver.generation import DEFAULT_MAX_EXAMPLES, generate, hypothesis_home

    contract = Contract(raw, profile, Path(path))
    with hypothesis_home() as home:
        hypothesis.configuration.set_hypothesis_home_dir(home)
        for mode in modes:
            data = pickle.dumps(generate(contract, mode, max_examples or DEFAULT_MAX_EXAMPLES, seed))
            try:
                _write(out, data)
            except BrokenPipeError:  # the run ended without it
                return
