"""The fault model: a `Fault` breaks one clause at one stage, through typed hooks, and declares its `Proof`s."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal

from conformance.contract import Contract
from conformance.reference.model import Generation

__all__ = [
    "HAND_WRITTEN",
    "ApiError",
    "AuthHooks",
    "Body",
    "Event",
    "Fault",
    "GenerationHooks",
    "Hooks",
    "LoadHooks",
    "Parametric",
    "Probe",
    "Proof",
    "RequestHooks",
    "ResponseHooks",
    "RunArgs",
    "Stage",
    "StreamHooks",
    "WireHooks",
    "expect",
]

Stage = Literal["request", "generation", "response", "stream", "auth", "wire", "load"]
Body = dict[str, Any]  # a request body, or a completion
Event = str | Body  # a stream event: a chunk, or raw text sent as is (a comment, `[DONE]`)


class ApiError(Exception):
    """An error answer of the reference server."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param


# -- hooks, one frozen dataclass per stage: a fault gives only the hooks it uses ---------------------------------


@dataclass(frozen=True)
class RequestHooks:
    """Reading and validating the request body."""

    malformed_status: int | None = None  # status for a body that is not JSON
    before: Callable[[Body], None] | None = None  # before validation: may raise ApiError or mutate
    # (field, validator, instance, schema) of a schema violation -> let it through (or raise ApiError)
    tolerate: Callable[[str, str, Any, dict[str, Any]], bool] | None = None
    after: Callable[[Body, Contract], None] | None = None  # after validation: may refuse
    openai_values: bool = False  # validate with the openai profile (OpenAI-only values accepted)
    any_model: bool = False
    default_model: bool = False  # a request without `model` gets the server's first model


@dataclass(frozen=True)
class AuthHooks:
    """Checking the bearer token."""

    admit: Callable[[str, str, str], bool] | None = None  # (scheme, token, key) -> let it through


@dataclass(frozen=True)
class GenerationHooks:
    """What the stand-in model is asked, and what it generated."""

    asked: Callable[[Body], None] | None = None  # the request as the faulty server acts on it
    generated: Callable[[Generation], None] | None = None


@dataclass(frozen=True)
class ResponseHooks:
    """The answer: a completion, or an error."""

    payload: Callable[[Body, Body], None] | None = None  # (completion, request)
    media_type: str | None = None
    render_error: Callable[[ApiError], tuple[int, str, str] | None] | None = None  # (status, body, media type)
    headers: Callable[[dict[str, str]], None] | None = None  # the answer's x-ratelimit-* headers, to change


@dataclass(frozen=True)
class StreamHooks:
    """A streamed answer's events."""

    events: Callable[[list[Event], Body], list[Event]] | None = None  # (events, request) -> events sent
    media_type: str | None = None


@dataclass(frozen=True)
class WireHooks:
    """Server state across requests, and the socket."""

    proxy: Callable[[str, str], AbstractContextManager[str]] | None = None  # (upstream URL, host) -> its URL
    answer_after: int | None = None  # after this many requests, every request gets 503
    crash_first: Callable[[Body], bool] | None = None  # the first such request answers 500, once
    # the chat request of this number (1: the first) -> answer a 429 with these headers, or None: serve it
    rate_limit: Callable[[int], dict[str, str] | None] | None = None


@dataclass(frozen=True)
class LoadHooks:
    """Requests in flight together: with `hold`, each request waits until no other has arrived for a moment, so
    that requests sent together are in flight together; a request that had company then is acted on by `beside`
    (the request as the faulty server acts on it), and with `swap` is answered with the previous one's answer."""

    hold: bool = False
    beside: Callable[[Body], None] | None = None
    swap: bool = False


@dataclass(frozen=True)
class Hooks:
    """A fault's hooks by stage (the app calls each stage's hooks of every active fault)."""

    request: RequestHooks = RequestHooks()
    auth: AuthHooks = AuthHooks()
    generation: GenerationHooks = GenerationHooks()
    response: ResponseHooks = ResponseHooks()
    stream: StreamHooks = StreamHooks()
    wire: WireHooks = WireHooks()
    load: LoadHooks = LoadHooks()


# -- proofs ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunArgs:
    """The run options of a proof: the checks selected (`--only`, `--skip`) and the capabilities claimed."""

    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()

    def argv(self) -> tuple[str, ...]:
        """As on the command line."""
        pairs = [("--skip", self.skip), ("--only", self.only), ("--capability", self.capabilities)]
        return tuple(arg for flag, values in pairs for value in values for arg in (flag, value))


HAND_WRITTEN = RunArgs(skip=("property.*", "client.*"))  # a proof's default run: the hand-written checks


@dataclass(frozen=True)
class Proof:
    """What a run against a server with `faults` must report, exactly (errors: none)."""

    failed: frozenset[str] = frozenset()
    warned: frozenset[str] = frozenset()
    unsupported: frozenset[str] = frozenset()
    profile: str = "atoma"
    variant: str = "lenient"
    args: RunArgs = HAND_WRITTEN
    faults: tuple[str, ...] = ()  # the server's faults; default: the fault itself
    seeds: tuple[int, ...] = (7,)

    @property
    def ids(self) -> frozenset[str]:
        return self.failed | self.warned | self.unsupported

    def shown(self) -> str:
        """One line: where it runs and what it must report."""
        parts = [
            f"{name} {', '.join(sorted(ids))}"
            for name, ids in (("failed", self.failed), ("warned", self.warned), ("unsupported", self.unsupported))
            if ids
        ]
        args = f" {' '.join(self.args.argv())}" if self.args != HAND_WRITTEN else ""
        return f"{self.profile}/{self.variant}{args}: {'; '.join(parts) or 'nothing'}"


Ids = str | Iterable[str]  # one id, or a collection


def _ids(group: Ids) -> frozenset[str]:
    return frozenset({group} if isinstance(group, str) else group)


def expect(
    failed: Ids = (),
    warned: Ids = (),
    unsupported: Ids = (),
    *,
    profile: str = "atoma",
    variant: str = "lenient",
    args: RunArgs = HAND_WRITTEN,
    faults: tuple[str, ...] = (),
    seeds: tuple[int, ...] = (7,),
) -> Proof:
    """A proof from plain ids (one id, or a collection)."""
    return Proof(_ids(failed), _ids(warned), _ids(unsupported), profile, variant, args, faults, seeds)


@dataclass(frozen=True)
class Probe:
    """Evidence that a fault which must change nothing was applied: `body` (the run's model added) is answered
    with text containing `shows` by a server with the fault, and without it by one without."""

    body: Body
    shows: str


# -- faults ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One fault: what it breaks, where, what it proves, and its hooks."""

    name: str
    description: str
    stage: Stage
    proves: tuple[Proof, ...] = ()
    probe: Probe | None = None
    hooks: Hooks = Hooks()

    @property
    def socket(self) -> bool:
        """Acts on the wire: proven over a real socket only."""
        return self.hooks.wire.proxy is not None

    def described(self) -> str:
        """One line for `conformance serve --list-faults`: what it does and what it proves."""
        proofs = "; ".join(p.shown() for p in self.proves) or "proves nothing by itself"
        probe = f"; probe: {self.probe.shows!r} in the answer" if self.probe else ""
        return f"[{self.stage}] {self.description} -> {proofs}{probe}"


@dataclass(frozen=True)
class Parametric:
    """A family of faults, one per request field (or capability): `NAME:FIELD`."""

    name: str
    description: str
    stage: Stage
    make: Callable[[str], Hooks]  # FIELD -> the hooks of its fault
    proves: tuple[Proof, ...] = ()

    def bind(self, argument: str) -> Fault:
        description = self.description.replace("FIELD", argument)
        return Fault(f"{self.name}:{argument}", description, self.stage, hooks=self.make(argument))

    def described(self) -> str:
        return Fault(f"{self.name}:FIELD", self.description, self.stage, self.proves).described()
