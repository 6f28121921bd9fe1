"""Result ids and run arguments that the proofs of several areas share."""

from __future__ import annotations

from conformance.reference.faults.model import RunArgs

__all__ = [
    "BOUNDS",
    "CLIENTS",
    "FINISH_SEMANTICS",
    "OPENAI",
    "OUTSIDE",
    "RANGED",
    "SDK_NULL_CONTENT",
    "clients",
    "request_ids",
]

OPENAI = "openai"
CLIENTS = RunArgs(only=("client.*",))
# atoma-sdk 0.1.3 cannot read a tool-call answer whose content is null, which the contract allows: warned on the
# clean reference server, by design (providers should hear about it)
SDK_NULL_CONTENT = "client.atoma_sdk.tools"
RANGED = ["frequency_penalty", "presence_penalty", "logit_bias", "temperature", "top_logprobs"]
OUTSIDE = ["below_minimum", "above_maximum", "far_below_minimum", "far_above_maximum"]
BOUNDS = ["at_minimum", "at_maximum"]
FINISH_SEMANTICS = {
    "semantic.max_completion_tokens.finish_reason",
    "semantic.max_tokens.finish_reason",
    "semantic.tool_calls.cut",
}


def clients(*kinds: str) -> set[str]:
    """The openai SDK's client checks of these kinds, warned, beside atoma-sdk's tool-call warning (by design)."""
    return {f"client.openai.{kind}" for kind in kinds} | {SDK_NULL_CONTENT}


def request_ids(fields: list[str], names: list[str]) -> set[str]:
    return {f"request.{f}.{n}" for f in fields for n in names}
