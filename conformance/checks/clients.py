"""SDK clients as checks (`client.*`, SHOULD): the official `openai` Python SDK and `atoma-sdk` parse the target's
plain, streamed, tool-call and `n=2` answers, replayed from the exchanges the run recorded for other checks (no
request of their own). A parse error is `warned` with the SDK's message and the clause of the field it failed on.

The replay itself needs the SDKs' HTTP stacks, so the driver provides it (`Facts.clients`); a judge here only reads
what the replay said.
"""

from __future__ import annotations

from typing import Any

from conformance.checks.base import PREFLIGHT, Check, Facts, Inconclusive, Recipe, Registry, Verdict
from conformance.checks.requests import BASIC
from conformance.checks.semantics import NAMED_CALL, TOOLS
from conformance.checks.streaming import MAIN, STREAM
from conformance.contract import CHUNK_SCHEMA, RESPONSE_SCHEMA, Contract
from conformance.records import Exchange, Outcome

# the SDK clients the driver knows how to replay through, by the name used in result ids
SDKS = {"openai": "openai", "atoma_sdk": "atoma-sdk"}

# kind: (recipe, the schema its answer is read against, what it is, options of the checks judging that recipe)
KINDS: dict[str, tuple[Recipe, str, str, dict[str, Any]]] = {
    "plain": (PREFLIGHT, RESPONSE_SCHEMA, "plain completion", {}),
    "stream": (MAIN, CHUNK_SCHEMA, "streamed completion", {"capabilities": STREAM}),
    "tools": (NAMED_CALL, RESPONSE_SCHEMA, "tool-call answer", {"capabilities": TOOLS, "long": True}),
    "n": (BASIC["n"], RESPONSE_SCHEMA, "n=2 answer", {"capabilities": ("n",)}),
}


def _judge(sdk: str, kind: str) -> Any:
    schema, what = KINDS[kind][1], KINDS[kind][2]

    def judge(facts: Facts, exchange: Exchange) -> Verdict:
        """The SDK client parses the recorded answer (SHOULD): a parse error names the SDK's message and field."""
        client = facts.clients.get(sdk)
        if client is None:
            raise Inconclusive(f"the {SDKS[sdk]} SDK is not installed in this environment")
        if exchange.truncated:
            raise Inconclusive(f"the stream was {exchange.truncated}: not replayed whole")
        parsed = client(kind, exchange)
        who = f"{client.name} {client.version}"
        if parsed.error is None:
            return Verdict(Outcome.PASSED, f"{who} parsed the {what}")
        at = ".".join(str(p) for p in parsed.path)
        message = f"{who} cannot parse the {what}" + (f" at {at}" if at else "") + f": {parsed.error}"
        return Verdict(Outcome.FAILED, message, (exchange,), pointer=facts.contract.pointer_at(schema, parsed.path))

    judge.__qualname__ = f"client_{kind}"
    return judge


CHECKS = Registry()


@CHECKS.family
def client_checks(contract: Contract) -> list[Check]:
    """One check per SDK and kind of answer; each shares the exchange its recipe records for other checks."""
    out = []
    for sdk in SDKS:
        for kind, (recipe, schema, _, options) in KINDS.items():
            out.append(
                Check(
                    f"client.{sdk}.{kind}",
                    None,
                    schema,
                    _judge(sdk, kind),
                    (recipe,),
                    level="SHOULD",
                    served=True,
                    **options,
                )
            )
    return out
