"""The property layer's generated bodies, made in a helper process while the run does everything else.

What schemathesis generates depends only on the contract, the mode, `--max-examples` and the seed
(`generation.generate`), never on an answer, and it is the run's largest cost in CPU. So the run starts a helper
process (`python -m conformance.driver.pregenerate`) as soon as it knows those, which generates every selected mode
in order and hands each over as plain data; the layer takes a mode's bodies when it reaches them. The helper is in
its own session (a Ctrl-C of the terminal is the run's to handle), writes nothing but its results, and is killed
when the run ends. Whenever it cannot deliver (it could not start, it died, it wrote something else), the layer
generates the same bodies in its own process: the helper changes when they are made, never what they are.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from conformance.contract import Contract

__all__ = ["Pregenerated"]

ORPHAN_POLL_S = 0.5  # how often the helper checks that the run that started it is still there
_LENGTH = 8  # bytes of the big-endian length before each result
_PACKAGE = str(Path(__file__).resolve().parents[1])  # the `conformance` package the run imported


class Pregenerated:
    """The generated bodies of `modes`, being made in a helper process; `take(mode)` waits for one of them, or
    None when the helper cannot deliver it (the caller then generates it itself)."""

    def __init__(self, contract: Contract, modes: list[str], max_examples: int | None, seed: int) -> None:
        self.modes = tuple(modes)
        self.max_examples = max_examples
        self.seed = seed
        self._got: dict[str, Any] = {}
        self._process: subprocess.Popen[bytes] | None = None
        if not modes:
            return
        job = (_PACKAGE, contract.raw, contract.profile, str(contract.path), self.modes, max_examples, seed)
        # the helper imports this very package (the one the run imported), whatever else is on its path
        path = os.pathsep.join(p for p in (str(Path(_PACKAGE).parent), os.environ.get("PYTHONPATH")) if p)
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(os.getpid())],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": path},
                start_new_session=True,  # the terminal's Ctrl-C reaches the run, which ends the helper
            )
            assert self._process.stdin is not None
            self._process.stdin.write(pickle.dumps(job))
            self._process.stdin.close()
        except (OSError, ValueError, TypeError, pickle.PicklingError, RecursionError):
            self.close()

    def take(self, mode: str, max_examples: int | None, seed: int) -> Any:
        """The `Generated` of `mode` for these `--max-examples` (None: the default) and `seed` (waiting for the
        helper), or None."""
        if mode not in self.modes or (max_examples, seed) != (self.max_examples, self.seed):
            return None
        while mode not in self._got and self._process is not None:
            got = self._read()
            if got is None:
                self.close()
                break
            self._got[got.mode] = got
        return self._got.pop(mode, None)

    def _read(self) -> Any:
        """The helper's next result, or None (it ended, or wrote something that is not one)."""
        from conformance.driver.generation import Generated

        assert self._process is not None and self._process.stdout is not None
        try:
            head = _exactly(self._process.stdout, _LENGTH)
            body = _exactly(self._process.stdout, int.from_bytes(head, "big")) if head is not None else None
            got = pickle.loads(body) if body is not None else None
        except (OSError, ValueError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, MemoryError):
            return None
        return got if isinstance(got, Generated) and got.mode in self.modes else None

    def close(self) -> None:
        """End the helper, whatever it is doing."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            process.kill()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        with contextlib.suppress(subprocess.TimeoutExpired):  # a killed process that does not end: left
            process.wait(timeout=10)


def _exactly(stream: IO[bytes], size: int) -> bytes | None:
    data = stream.read(size)
    return data if len(data) == size else None


def _orphaned(parent: int) -> None:
    """End the helper once the run that started it is gone (killed without a chance to end it)."""
    while os.getppid() == parent:
        time.sleep(ORPHAN_POLL_S)
    os._exit(0)


def _main() -> None:
    """The helper: read the job on stdin, write each mode's `Generated` on stdout as soon as it is made."""
    # the run that started it (it may be gone already: then the helper is an orphan from the start)
    threading.Thread(target=_orphaned, args=(int(sys.argv[1]),), daemon=True).start()
    job = pickle.loads(sys.stdin.buffer.read())
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever a library prints goes where stderr goes, not into the results
    package, raw, profile, path, modes, max_examples, seed = job
    if package != _PACKAGE:  # another copy of the tool: what it generates could differ; the run generates itself
        return

    import hypothesis.configuration

    from conformance.driver.generation import DEFAULT_MAX_EXAMPLES, generate, hypothesis_home

    contract = Contract(raw, profile, Path(path))
    with hypothesis_home() as home:
        hypothesis.configuration.set_hypothesis_home_dir(home)
        for mode in modes:
            data = pickle.dumps(generate(contract, mode, max_examples or DEFAULT_MAX_EXAMPLES, seed))
            try:
                out.write(len(data).to_bytes(_LENGTH, "big") + data)
                out.flush()
            except BrokenPipeError:  # the run ended without it
                return


if __name__ == "__main__":
    _main()
