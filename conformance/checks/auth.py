"""Bearer authentication: a missing or wrong token is answered 401 with the error envelope."""

from __future__ import annotations

from conformance.checks.base import RUN_KEY, Check, Facts, Recipe, Registry, Request
from conformance.checks.requests import body
from conformance.checks.status import ExactStatus
from conformance.contract import OPERATION
from conformance.records import Exchange

__all__ = ["CHECKS"]

CHECKS = Registry()
UNAUTHORIZED = f"{OPERATION}/responses/401"
CASES = {
    "auth.missing_token": (None, "no Authorization header"),
    "auth.wrong_token": ("Bearer conformance-wrong-token", "Authorization: Bearer <a wrong token>"),
    "auth.non_bearer_scheme": (f"Token {RUN_KEY}", "Authorization: Token <the key> (not the Bearer scheme)"),
}


def _recipe(rid: str, header: str | None) -> Recipe:
    def build(facts: Facts, _: tuple[Exchange, ...]) -> Request:
        return Request(body(facts, facts.status_limit), authorization=header)  # judged by its status alone

    return Recipe(rid, build, status_only=True)


CHECKS.add(
    *(
        Check(
            rid,
            "Authorization",
            UNAUTHORIZED,
            ExactStatus(401, sent, envelope=True),
            (_recipe(rid, header),),
            needs_key=True,
            bearer_only=rid == "auth.non_bearer_scheme",
        )
        for rid, (header, sent) in CASES.items()
    )
)
