"""Faults the reference server can be started with, as a registry that declares what each one proves.

A fault breaks one clause at one stage of serving a request (request validation, generation, the response
body, the stream, auth, the wire), through typed hooks per stage (`model.Hooks`). Each declares, per profile,
variant and run arguments (`RunArgs`), the exact result ids a run against a server with it must turn `failed`,
`warned` and `unsupported` (`Proof`): the project's tests run every proof, and fail when a planned check is proven
by no fault. A fault that must change nothing carries a `Probe` showing it was applied. Parametric faults take a
request field: `range_500:temperature`. One module per area declares its faults and their proofs.
"""

from __future__ import annotations

from typing import TypeVar

from conformance.reference.faults import auth, families, load, properties, request, response, semantics, stream
from conformance.reference.faults.ids import SDK_NULL_CONTENT
from conformance.reference.faults.model import (
    HAND_WRITTEN,
    ApiError,
    Event,
    Fault,
    Hooks,
    Parametric,
    Probe,
    Proof,
    RunArgs,
    Stage,
)

__all__ = [
    "FAULTS",
    "HAND_WRITTEN",
    "PARAMETRIC",
    "SDK_NULL_CONTENT",
    "ApiError",
    "Event",
    "Fault",
    "Hooks",
    "Parametric",
    "Probe",
    "Proof",
    "RunArgs",
    "Stage",
    "active",
    "every_proof",
    "fault",
    "validate_faults",
]


T = TypeVar("T", Fault, Parametric)


def _by_name(items: list[T]) -> dict[str, T]:
    out: dict[str, T] = {}
    for item in items:
        if item.name in out:
            raise ValueError(f"two faults are named {item.name}")
        out[item.name] = item
    return out


# in the order `conformance serve --list-faults` shows them
FAULTS: dict[str, Fault] = _by_name(
    [
        *response.FAULTS,
        *auth.FAULTS,
        *request.FAULTS,
        *semantics.FAULTS,
        *properties.FAULTS,
        *stream.FAULTS,
        *load.FAULTS,
    ]
)
PARAMETRIC: dict[str, Parametric] = _by_name(families.PARAMETRIC)


def fault(spec: str) -> Fault:
    """The fault named by `spec` (`name` or `name:FIELD`); ValueError when there is none."""
    if spec in FAULTS:
        return FAULTS[spec]
    name, _, argument = spec.partition(":")
    if name in PARAMETRIC and argument:
        return PARAMETRIC[name].bind(argument)
    raise ValueError(f"unknown fault(s): {spec} (see `conformance serve --list-faults`)")


def validate_faults(specs: frozenset[str]) -> None:
    """Raise ValueError naming any fault that does not exist."""
    unknown = []
    for spec in sorted(specs):
        try:
            fault(spec)
        except ValueError:
            unknown.append(spec)
    if unknown:
        raise ValueError(f"unknown fault(s): {', '.join(unknown)} (see `conformance serve --list-faults`)")


def active(specs: frozenset[str]) -> tuple[Fault, ...]:
    """The faults of a server, in a stable order."""
    return tuple(fault(spec) for spec in sorted(specs))


def every_proof() -> list[tuple[str, Proof]]:
    """(fault name, proof) for every proof of every fault, parametric ones included."""
    out = [(f.name, p) for f in FAULTS.values() for p in f.proves]
    return out + [(f.name, p) for f in PARAMETRIC.values() for p in f.proves]
