"""Faults of semantics: the request's controls (limits, stop, n, tools, response_format, logprobs, seed) ignored
or misreported."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

from conformance.contract import Contract
from conformance.reference.faults.hooks import drop, refuse
from conformance.reference.faults.ids import FINISH_SEMANTICS, OPENAI
from conformance.reference.faults.model import (
    Body,
    Fault,
    GenerationHooks,
    Hooks,
    Probe,
    RequestHooks,
    ResponseHooks,
    expect,
)
from conformance.reference.model import Generation

__all__ = ["FAULTS"]


# -- generation: what the model is asked, and what it reports -----------------------------------------------------


def _limit_floor(asked: Body) -> None:
    for name in ("max_tokens", "max_completion_tokens"):
        if isinstance(asked.get(name), int) and asked[name] < 4:
            asked[name] = 4


def _ignore_limit_with_tools(asked: Body) -> None:
    if asked.get("tools"):
        asked.pop("max_completion_tokens", None)
        asked.pop("max_tokens", None)


def _tool_choice_none_ignored(asked: Body) -> None:
    if asked.get("tool_choice") == "none":
        asked["tool_choice"] = "auto"


def _named_tool_ignored(asked: Body) -> None:
    if isinstance(asked.get("tool_choice"), dict):
        asked["tool_choice"] = "auto"


def _seed_ignored(asked: Body) -> None:
    asked["seed"] = random.randrange(2**32)


def _json_object_ignored(asked: Body) -> None:
    if (asked.get("response_format") or {}).get("type") == "json_object":
        del asked["response_format"]


def _nonstrict_schema_ignored(asked: Body) -> None:
    fmt = asked.get("response_format") or {}
    if fmt.get("type") == "json_schema" and (fmt.get("json_schema") or {}).get("strict") is not True:
        asked["response_format"] = {"type": "json_object"}


def _json_schema_ignored(asked: Body) -> None:
    if (asked.get("response_format") or {}).get("type") == "json_schema":
        asked["response_format"] = {"type": "json_object"}


def _finish(old: str, new: str, *, tool_calls: bool = False) -> Callable[[Generation], None]:
    def hook(generation: Generation) -> None:
        for choice in generation.choices:
            if choice.finish_reason == old and (choice.tool_calls or not tool_calls):
                choice.finish_reason = new

    return hook


def _stop_includes_sequence(generation: Generation) -> None:
    for choice in generation.choices:
        if choice.matched_stop is not None:
            choice.tokens.append(choice.matched_stop)


def _stop_finish_length(generation: Generation) -> None:
    for choice in generation.choices:
        if choice.matched_stop is not None:
            choice.finish_reason = "length"


def _vocabulary(size: int) -> Callable[[Body, Contract], None]:
    def hook(body: Body, contract: Contract) -> None:
        bias = body.get("logit_bias")
        if isinstance(bias, dict) and any(int(token) >= size for token in bias):
            raise refuse("logit_bias", "out-of-vocab token ids in logit_bias")

    return hook


# -- response: tool-call arguments and logprobs -----------------------------------------------------------------


def _arguments_unclosed(payload: Body, _: Body) -> None:
    for choice in payload["choices"]:
        for call in choice["message"].get("tool_calls") or []:
            call["function"]["arguments"] = call["function"]["arguments"][:-1]


def _arguments_object(payload: Body, _: Body) -> None:
    for choice in payload["choices"]:
        if choice["finish_reason"] == "length":
            continue
        for call in choice["message"].get("tool_calls") or []:
            call["function"]["arguments"] = json.loads(call["function"]["arguments"])


def _logprobs_of(payload: Body) -> list[Body]:
    return [t for c in payload["choices"] for t in ((c.get("logprobs") or {}).get("content") or [])]


def _logprobs_dropped(payload: Body, _: Body) -> None:
    for choice in payload["choices"]:
        choice["logprobs"] = None


def _top_logprobs_fewer(payload: Body, _: Body) -> None:
    for token in _logprobs_of(payload):
        token["top_logprobs"] = token["top_logprobs"][:-1]


def _bytes_strings(payload: Body, _: Body) -> None:
    for token in _logprobs_of(payload):
        token["bytes"] = [str(b) for b in token["bytes"]]


FAULTS = [
    Fault(
        "ignore_completion_limit",
        "`max_completion_tokens` is ignored",
        "generation",
        (
            # max_tokens is honoured: it caps every request, and max_completion_tokens alone is not sent again
            expect({"response.minimal.completion_limit"}),
            # streamed checks still run, each read to its bound: a stream's missing usage chunk is not hidden
            expect(
                {"response.minimal.completion_limit", "stream.usage_chunk"},
                faults=("ignore_completion_limit", "stream_no_usage"),
            ),
        ),
        hooks=Hooks(generation=GenerationHooks(asked=drop("max_completion_tokens"))),
    ),
    Fault(
        "limit_floor",
        "a completion limit below 4 is raised to 4",
        "generation",
        (expect({"semantic.max_completion_tokens.usage", "semantic.max_tokens.usage", "load.no_cross_talk"}),),
        hooks=Hooks(generation=GenerationHooks(asked=_limit_floor)),
    ),
    Fault(
        "ignore_max_tokens",
        "`max_tokens` is ignored",
        "generation",
        (expect("semantic.max_tokens.usage"),),
        hooks=Hooks(generation=GenerationHooks(asked=drop("max_tokens"))),
    ),
    Fault(
        "finish_stop_when_cut",
        "output cut by the token limit reports finish_reason `stop`",
        "generation",
        (expect(warned=FINISH_SEMANTICS), expect(FINISH_SEMANTICS, profile=OPENAI)),
        hooks=Hooks(generation=GenerationHooks(generated=_finish("length", "stop"))),
    ),
    Fault(
        "stop_ignored",
        "stop sequences are ignored",
        "generation",
        (expect("semantic.stop.truncates"),),
        hooks=Hooks(generation=GenerationHooks(asked=drop("stop"))),
    ),
    Fault(
        "stop_includes_sequence",
        "the output includes the stop sequence that ended it",
        "generation",
        (expect("semantic.stop.truncates"),),
        hooks=Hooks(generation=GenerationHooks(generated=_stop_includes_sequence)),
    ),
    Fault(
        "stop_finish_length",
        "output ended by a stop sequence reports finish_reason `length`",
        "generation",
        (expect(warned="semantic.stop.finish_reason"),),
        hooks=Hooks(generation=GenerationHooks(generated=_stop_finish_length)),
    ),
    Fault(
        "ignore_n",
        "`n` is silently ignored (one choice)",
        "generation",
        (expect({"semantic.n.choices"}),),  # n ignored alone too: load.no_cross_talk is inconclusive, not failed
        hooks=Hooks(generation=GenerationHooks(asked=drop("n"))),
    ),
    Fault(
        "tool_choice_none_ignored",
        "`tool_choice: none` still calls a tool",
        "generation",
        (expect("semantic.tool_choice.none"),),
        hooks=Hooks(generation=GenerationHooks(asked=_tool_choice_none_ignored)),
    ),
    Fault(
        "named_tool_ignored",
        "a named tool_choice calls the first tool instead",
        "generation",
        (expect("semantic.tool_choice.named"),),
        hooks=Hooks(generation=GenerationHooks(asked=_named_tool_ignored)),
    ),
    Fault(
        "tool_limit_ignored_broken_arguments",
        "with tools, the completion limit is ignored and arguments are not complete JSON (reported tool_calls)",
        "generation",
        (expect("semantic.tool_calls.arguments"),),
        hooks=Hooks(
            generation=GenerationHooks(asked=_ignore_limit_with_tools),
            response=ResponseHooks(payload=_arguments_unclosed),
        ),
    ),
    Fault(
        "small_vocabulary",
        "a 512-token vocabulary: logit_bias token ids from 512 up are refused: must change nothing",
        "request",
        (expect(),),
        probe=Probe({"messages": [{"role": "user", "content": "hi"}], "logit_bias": {"1000": 1}}, "out-of-vocab"),
        hooks=Hooks(request=RequestHooks(after=_vocabulary(512))),
    ),
    Fault(
        "logit_bias_token_refused",
        "every logit_bias token id is refused: the logit_bias checks are inconclusive, never failed",
        "request",
        (expect(),),
        probe=Probe({"messages": [{"role": "user", "content": "hi"}], "logit_bias": {"0": 0}}, "out-of-vocab"),
        hooks=Hooks(request=RequestHooks(after=_vocabulary(0))),
    ),
    Fault(
        "arguments_object",
        "tool-call `arguments` is a JSON object, not a string",
        "response",
        (expect("semantic.tool_calls.arguments"),),
        hooks=Hooks(response=ResponseHooks(payload=_arguments_object)),
    ),
    Fault(
        "json_object_ignored",
        "`response_format: json_object` is accepted and ignored",
        "generation",
        (expect("semantic.response_format.json_object"),),
        hooks=Hooks(generation=GenerationHooks(asked=_json_object_ignored)),
    ),
    Fault(
        "json_schema_ignored",
        "`response_format: json_schema` is accepted but its schema is not enforced",
        "generation",
        (expect("semantic.response_format.json_schema", warned="semantic.response_format.json_schema_nonstrict"),),
        hooks=Hooks(generation=GenerationHooks(asked=_json_schema_ignored)),
    ),
    Fault(
        "json_schema_nonstrict_ignored",
        "a json_schema without `strict: true` is not enforced (as OpenAI allows); a strict one is",
        "generation",
        (expect(warned="semantic.response_format.json_schema_nonstrict"),),
        hooks=Hooks(generation=GenerationHooks(asked=_nonstrict_schema_ignored)),
    ),
    Fault(
        "parallel_ignored",
        "`parallel_tool_calls: false` is ignored: several tools are called at once",
        "generation",
        (expect("semantic.parallel_tool_calls.false"),),
        hooks=Hooks(generation=GenerationHooks(asked=drop("parallel_tool_calls"))),
    ),
    Fault(
        "tool_cut_reports_tool_calls",
        "a tool call cut by the completion limit reports finish_reason `tool_calls`",
        "generation",
        (expect(warned="semantic.tool_calls.cut"),),
        hooks=Hooks(generation=GenerationHooks(generated=_finish("length", "tool_calls", tool_calls=True))),
    ),
    Fault(
        "logprobs_dropped",
        "`logprobs: true` is accepted and silently dropped",
        "response",
        (expect("semantic.logprobs.top_logprobs"),),
        hooks=Hooks(response=ResponseHooks(payload=_logprobs_dropped)),
    ),
    Fault(
        "top_logprobs_fewer",
        "one alternative fewer than `top_logprobs` asks",
        "response",
        (expect("semantic.logprobs.top_logprobs"),),
        hooks=Hooks(response=ResponseHooks(payload=_top_logprobs_fewer)),
    ),
    Fault(
        "logprobs_bytes_strings",
        "logprobs `bytes` are strings, not integers",
        "response",
        (expect("semantic.logprobs.top_logprobs"),),
        hooks=Hooks(response=ResponseHooks(payload=_bytes_strings)),
    ),
    Fault(
        "seed_ignored",
        "`seed` is ignored: every request samples anew",
        "generation",
        (expect(warned="semantic.seed.reproducible"),),
        hooks=Hooks(generation=GenerationHooks(asked=_seed_ignored)),
    ),
]
