"""Faults of authentication: who is let through, and how a 401 is rendered."""

from __future__ import annotations

import json

from conformance.reference.faults.model import ApiError, AuthHooks, Fault, Hooks, ResponseHooks, expect

__all__ = ["FAULTS"]

AUTH = {"auth.missing_token", "auth.wrong_token", "auth.non_bearer_scheme"}


def _auth_flat(error: ApiError) -> tuple[int, str, str] | None:
    return (401, json.dumps({"message": error.message}), "application/json") if error.status == 401 else None


FAULTS = [
    Fault(
        "auth_not_enforced",
        "requests without or with a wrong token are served",
        "auth",
        (expect(AUTH),),
        hooks=Hooks(auth=AuthHooks(admit=lambda scheme, token, key: True)),
    ),
    Fault(
        "auth_any_token",
        "any bearer token is accepted; only a missing header is refused",
        "auth",
        (expect("auth.wrong_token"),),
        hooks=Hooks(auth=AuthHooks(admit=lambda scheme, token, key: scheme == "Bearer")),
    ),
    Fault(
        "auth_any_scheme",
        "the key is accepted under any scheme (`Token KEY`), not only `Bearer`",
        "auth",
        (expect("auth.non_bearer_scheme"),),
        hooks=Hooks(auth=AuthHooks(admit=lambda scheme, token, key: bool(scheme) and token == key)),
    ),
    Fault(
        "auth_flat_error",
        '401 answers carry a flat `{"message": ...}` body, not the error envelope',
        "auth",
        (expect(AUTH),),
        hooks=Hooks(response=ResponseHooks(render_error=_auth_flat)),
    ),
]
