"""Semantics that hold on any model: expectations come from the target's own output (rule 7)."""

from __future__ import annotations

import json
import re
from typing import Any

from jsonschema import Draft202012Validator

from conformance.checks.base import Facts, Inconclusive, Recipe, Registry, Request, Verdict
from conformance.checks.reading import content_of, first_choice, tool_calls_of
from conformance.checks.requests import (
    BASIC,
    CAPABILITIES,
    FREE,
    FREE_AGAIN,
    JSON_PROMPT,
    JSON_SCHEMA_FORMAT,
    JSON_SCHEMA_NONSTRICT,
    LONG_PROMPT,
    TIME_TOOL,
    TOOL_LIMIT,
    TOOL_PROMPT,
    WEATHER_TOOL,
    body,
    free_body,
)
from conformance.contract import REQUEST_SCHEMA
from conformance.records import Exchange, Outcome, load_json

__all__ = ["CHECKS", "stop_word"]

CHECKS = Registry()
FINISH = "#/components/schemas/FinishReason"
LITERAL = "#/components/schemas/ToolChoiceLiteral"
NAMED = "#/components/schemas/NamedToolChoice"
ARGUMENTS = "#/components/schemas/ToolCall/properties/function/properties/arguments"
TOKEN_LOGPROB = "#/components/schemas/TokenLogprob"
JSON_SCHEMA_POINTER = "#/components/schemas/JsonSchemaResponseFormat"
CUT_LIMIT = 3  # completion tokens for the limit checks: far below what LONG_PROMPT asks for
TOP_K = 2
PARALLEL_PROMPT = "What are the weather and the local time in Paris? Use the tools."
TOOLS = ("tools",)


def _field(name: str) -> str:
    return f"{REQUEST_SCHEMA}/properties/{name}"


def _fixed(key: str, make: Any) -> Recipe:
    return Recipe(key, lambda facts, _: Request(make(facts)))


# -- token limits ------------------------------------------------------------------------------------------


def _limit_body(facts: Facts, field: str) -> dict[str, Any]:
    """The limit `field` alone, far below what the prompt asks for."""
    other = "max_completion_tokens" if field == "max_tokens" else "max_tokens"
    return body(facts, CUT_LIMIT, LONG_PROMPT, **{other: None, field: CUT_LIMIT})


LIMIT = {
    f: _fixed(f"semantic.{f}", lambda facts, f=f: _limit_body(facts, f))
    for f in ("max_completion_tokens", "max_tokens")
}


def _used(exchange: Exchange) -> Any:
    body_ = exchange.json
    usage = body_.get("usage") if isinstance(body_, dict) else None
    return usage.get("completion_tokens") if isinstance(usage, dict) else None


def cut_by_limit(exchange: Exchange, field: str) -> int:
    """The completion tokens of an answer to a request capped at CUT_LIMIT by `field`; inconclusive unless the
    reported usage shows the limit honoured (a truncation is judged only after usage is compared with the limit)."""
    used = _used(exchange)
    if not isinstance(used, int) or isinstance(used, bool):
        raise Inconclusive(f"no usage.completion_tokens: whether {field}={CUT_LIMIT} cut the output is not known")
    if used > CUT_LIMIT:
        raise Inconclusive(f"the limit was not honoured ({used} completion tokens for {field}={CUT_LIMIT})")
    return used


def limit_usage(field: str) -> Any:
    def judge(facts: Facts, exchange: Exchange) -> Verdict:
        """`usage.completion_tokens` stays within the limit sent."""
        first_choice(exchange)
        used = _used(exchange)
        if not isinstance(used, int):
            raise Inconclusive("no usage.completion_tokens to compare with the limit")
        if used > CUT_LIMIT:
            return Verdict(
                Outcome.FAILED,
                f"the limit was not honoured: {used} completion tokens",
                (exchange,),
                evidence=f"sent {field}={CUT_LIMIT}; usage.completion_tokens is {used}",
            )
        return Verdict(Outcome.PASSED, f"sent {field}={CUT_LIMIT}; completion_tokens {used}")

    judge.__qualname__ = "limit_usage"
    return judge


def limit_finish(field: str) -> Any:
    def judge(facts: Facts, exchange: Exchange) -> Verdict:
        """Output cut by the limit reports finish_reason `length`."""
        reason = first_choice(exchange).get("finish_reason")
        used = cut_by_limit(exchange, field)
        if used < CUT_LIMIT and reason == "stop":
            raise Inconclusive(f"the output ended by itself after {used} tokens, before the limit of {CUT_LIMIT}")
        if reason == "length":
            return Verdict(Outcome.PASSED, f"sent {field}={CUT_LIMIT}; cut with finish_reason 'length'")
        return Verdict(
            Outcome.FAILED,
            f"output cut by the limit reports finish_reason {reason!r}, not 'length'",
            (exchange,),
            evidence=f"sent {field}={CUT_LIMIT}; cut at {used} completion token(s)",
        )

    judge.__qualname__ = "limit_finish"
    return judge


for _f in ("max_completion_tokens", "max_tokens"):
    CHECKS.check(f"semantic.{_f}.usage", _f, _field(_f), LIMIT[_f], limit_field=_f)(limit_usage(_f))
    CHECKS.check(f"semantic.{_f}.finish_reason", "choices.finish_reason", FINISH, LIMIT[_f], limit_field=_f)(
        limit_finish(_f)
    )


# -- stop ------------------------------------------------------------------------------------------------


def stop_word(free: Exchange) -> tuple[str, str]:
    """(a word of the unconstrained output, the text before it): the word's first occurrence, not at the start."""
    text = content_of(first_choice(free))
    seen: set[str] = set()
    candidates = []
    for match in re.finditer(r"[A-Za-z]{3,}", text):
        word = match.group()
        if word not in seen and match.start() > 0 and text.find(word) == match.start():
            candidates.append((match.start(), word))
        seen.add(word)
    if not candidates:
        raise Inconclusive(f"no word of 3+ letters after the start of the unconstrained output {text[:80]!r}")
    position, word = candidates[min(1, len(candidates) - 1)]
    return word, text[:position]


STOPPED = Recipe(
    "semantic.stopped", lambda facts, prior: Request(free_body(facts, stop=[stop_word(prior[0])[0]])), after=(FREE,)
)


@CHECKS.check("semantic.stop.truncates", "stop", _field("stop"), FREE, STOPPED, long=True)
def stop_truncates(facts: Facts, free: Exchange, stopped: Exchange) -> Verdict:
    """A stop word taken from the unconstrained output ends the repeat before it."""
    word, prefix = stop_word(free)
    text = content_of(first_choice(stopped))
    sent = f"stop=[{word!r}] (taken from the unconstrained output)"
    if word in text:  # the returned text never contains a stop sequence, wherever it would appear
        return Verdict(
            Outcome.FAILED,
            "the output contains the stop sequence" + (", and goes on past it" if text.startswith(prefix) else ""),
            (stopped,),
            evidence=f"sent {sent}; the output contains it: {text[:200]!r}",
        )
    if text.rstrip() != prefix.rstrip():
        raise Inconclusive(f"the repeat differs from the first completion before {word!r}: {text[:80]!r}")
    return Verdict(Outcome.PASSED, f"sent {sent}; output ends before it: {text[-40:]!r}")


@CHECKS.check("semantic.stop.finish_reason", "choices.finish_reason", FINISH, FREE, STOPPED, long=True)
def stop_finish(facts: Facts, free: Exchange, stopped: Exchange) -> Verdict:
    """Output ended by a stop sequence reports finish_reason `stop`."""
    word, prefix = stop_word(free)
    choice = first_choice(stopped)
    if content_of(choice).rstrip() != prefix.rstrip():
        raise Inconclusive("the output did not end at the stop sequence (see semantic.stop.truncates)")
    reason = choice.get("finish_reason")
    if reason == "stop":
        return Verdict(Outcome.PASSED, f"stop=[{word!r}] ended the output with finish_reason 'stop'")
    return Verdict(
        Outcome.FAILED,
        f"output ended by a stop sequence reports finish_reason {reason!r}, not 'stop'",
        (stopped,),
        evidence=f"stop=[{word!r}] ended the output",
    )


# -- capabilities ------------------------------------------------------------------------------------------


@CHECKS.check("semantic.n.choices", "n", _field("n"), BASIC["n"], capabilities=("n",), served=True)
def n_choices(facts: Facts, exchange: Exchange) -> Verdict:
    """`n: 2` gives two choices, indexed 0 and 1 (not silently ignored)."""
    asked = CAPABILITIES["n"]["n"]
    body_ = exchange.json
    items = body_.get("choices") if isinstance(body_, dict) else None
    if not isinstance(items, list):
        raise Inconclusive(f"choices is not an array (see response.choices): {exchange.describe(200)}")
    indexes = [c.get("index") for c in items if isinstance(c, dict)]
    whole = [i for i in indexes if isinstance(i, int)]
    if len(whole) == len(items) and sorted(whole) == list(range(asked)):
        return Verdict(Outcome.PASSED, f"sent n={asked}; got choices {indexes}")
    return Verdict(
        Outcome.FAILED, "n was ignored", (exchange,), evidence=f"sent n={asked}; got choice indexes {indexes}"
    )


def tool_body(facts: Facts, tool_choice: Any, limit: int = TOOL_LIMIT, **fields: Any) -> dict[str, Any]:
    return body(facts, limit, TOOL_PROMPT, tools=[WEATHER_TOOL, TIME_TOOL], tool_choice=tool_choice, **fields)


NAMED_TIME = {"type": "function", "function": {"name": TIME_TOOL["function"]["name"]}}
TOOL_NONE = _fixed("semantic.tool_none", lambda facts: tool_body(facts, "none", seed=facts.seed))
NAMED_CALL = _fixed("semantic.named", lambda facts: tool_body(facts, NAMED_TIME, seed=facts.seed))
PARALLEL = _fixed(
    "semantic.parallel_false",
    lambda facts: body(
        facts,
        TOOL_LIMIT,
        PARALLEL_PROMPT,
        tools=[WEATHER_TOOL, TIME_TOOL],
        tool_choice="auto",
        parallel_tool_calls=False,
    ),
)
TOOL_CUT = _fixed("semantic.tool_cut", lambda facts: tool_body(facts, NAMED_TIME, CUT_LIMIT))
JSON_SCHEMA = _fixed(
    "semantic.json_schema", lambda facts: body(facts, TOOL_LIMIT, JSON_PROMPT, response_format=JSON_SCHEMA_FORMAT)
)
JSON_SCHEMA_LOOSE = _fixed(
    "semantic.json_schema_nonstrict",
    lambda facts: body(facts, TOOL_LIMIT, JSON_PROMPT, response_format=JSON_SCHEMA_NONSTRICT),
)
LOGPROBS = _fixed("semantic.logprobs", lambda facts: body(facts, logprobs=True, top_logprobs=TOP_K))


@CHECKS.check(
    "semantic.tool_choice.none", "tool_choice", LITERAL, TOOL_NONE, capabilities=TOOLS, served=True, long=True
)
def tool_none(facts: Facts, exchange: Exchange) -> Verdict:
    """`tool_choice: none` with tools defined calls no tool."""
    calls = tool_calls_of(first_choice(exchange))
    if calls:
        return Verdict(
            Outcome.FAILED,
            "tool_choice 'none' was ignored: a tool was called",
            (exchange,),
            evidence=f"sent tool_choice 'none' with tools defined; got tool_calls {str(calls)[:200]}",
        )
    return Verdict(Outcome.PASSED, "tool_choice 'none': no tool call")


def _named_choice(exchange: Exchange) -> dict[str, Any]:
    choice = first_choice(exchange)
    if choice.get("finish_reason") == "length":
        raise Inconclusive("the tool call was cut by the completion limit")
    return choice


@CHECKS.check(
    "semantic.tool_choice.named", "tool_choice", NAMED, NAMED_CALL, capabilities=TOOLS, served=True, long=True
)
def tool_named(facts: Facts, exchange: Exchange) -> Verdict:
    """A named tool_choice calls that function, and the turn ends with `tool_calls` (or OpenAI's `stop`)."""
    choice = _named_choice(exchange)
    wanted = TIME_TOOL["function"]["name"]
    reason = choice.get("finish_reason")
    names = [(c.get("function") or {}).get("name") for c in tool_calls_of(choice) if isinstance(c, dict)]
    if names[:1] != [wanted]:
        return Verdict(
            Outcome.FAILED,
            "the named tool_choice was ignored",
            (exchange,),
            evidence=f"sent tool_choice naming {wanted!r}; got calls {names}",
        )
    if reason not in ("tool_calls", "stop"):  # OpenAI itself answers `stop` for a named choice
        return Verdict(
            Outcome.FAILED,
            f"a tool call reports finish_reason {reason!r}",
            (exchange,),
            pointer=FINISH,
            evidence=f"sent tool_choice naming {wanted!r}; it was called",
        )
    return Verdict(Outcome.PASSED, f"named tool_choice {wanted!r} called, finish_reason {reason!r}")


@CHECKS.check(
    "semantic.tool_calls.arguments",
    "choices.message.tool_calls.function.arguments",
    ARGUMENTS,
    NAMED_CALL,
    capabilities=TOOLS,
    served=True,
    long=True,
)
def tool_arguments(facts: Facts, exchange: Exchange) -> Verdict:
    """Tool-call `arguments` is a string holding JSON, not an object."""
    calls = [c for c in tool_calls_of(_named_choice(exchange)) if isinstance(c, dict)]
    if not calls:
        raise Inconclusive("no tool call to inspect (see semantic.tool_choice.named)")
    for call in calls:
        arguments = (call.get("function") or {}).get("arguments")
        if not isinstance(arguments, str):
            return Verdict(
                Outcome.FAILED,
                f"arguments is a {type(arguments).__name__}, not a string of JSON",
                (exchange,),
                evidence=f"got arguments {str(arguments)[:200]}",
            )
        try:
            load_json(arguments)
        except ValueError:
            if _reached_limit(exchange):  # cut, whatever its finish_reason says (semantic.tool_choice.named judges it)
                raise Inconclusive(
                    "the call was cut at the completion limit (usage reached it): its arguments are incomplete"
                ) from None
            return Verdict(
                Outcome.FAILED, "arguments is not JSON", (exchange,), evidence=f"got arguments {arguments[:200]!r}"
            )
    return Verdict(Outcome.PASSED, f"{len(calls)} call(s) with JSON-string arguments")


def _reached_limit(exchange: Exchange) -> bool:
    """The answer's completion tokens reached the completion limit its request sent."""
    sent = exchange.request_body if isinstance(exchange.request_body, dict) else {}
    limits = [sent.get(name) for name in ("max_completion_tokens", "max_tokens")]
    limit = min((v for v in limits if isinstance(v, int) and not isinstance(v, bool)), default=None)
    used = _used(exchange)
    return limit is not None and isinstance(used, int) and not isinstance(used, bool) and used >= limit


def json_content(exchange: Exchange, kind: str) -> Any:
    """The JSON value of a completion asked for with `response_format` `kind`; or the failed verdict."""
    choice = first_choice(exchange)
    text = content_of(choice)
    if choice.get("finish_reason") == "length" or not text.strip():
        raise Inconclusive(f"the content was cut or empty (finish_reason {choice.get('finish_reason')!r})")
    try:
        return load_json(text)
    except ValueError:
        return Verdict(
            Outcome.FAILED,
            "the content is not JSON",
            (exchange,),
            evidence=f"sent response_format {kind}; got content {text[:200]!r}",
        )


FORMAT = ("response_format",)


@CHECKS.check(
    "semantic.response_format.json_object",
    "response_format",
    _field("response_format"),
    BASIC["response_format"],
    capabilities=FORMAT,
    served=True,
    long=True,
)
def json_object(facts: Facts, exchange: Exchange) -> Verdict:
    """`response_format: json_object` gives content that parses as JSON."""
    value = json_content(exchange, "json_object")
    if isinstance(value, Verdict):
        return value
    return Verdict(Outcome.PASSED, "response_format json_object: the content parses as JSON")


@CHECKS.check(
    "semantic.response_format.json_schema_nonstrict",
    "response_format",
    JSON_SCHEMA_POINTER,
    JSON_SCHEMA_LOOSE,
    capabilities=FORMAT,
    served=True,
    long=True,
    level="SHOULD",
)
@CHECKS.check(
    "semantic.response_format.json_schema",
    "response_format",
    JSON_SCHEMA_POINTER,
    JSON_SCHEMA,
    capabilities=FORMAT,
    served=True,
    long=True,
)
def json_schema(facts: Facts, exchange: Exchange) -> Verdict:
    """`response_format: json_schema` gives content valid against the schema sent (MUST with `strict: true`,
    SHOULD without: OpenAI guarantees adherence only when strict)."""
    value = json_content(exchange, "json_schema")
    if isinstance(value, Verdict):
        return value
    text = json.dumps(value)
    errors = [e.message for e in Draft202012Validator(JSON_SCHEMA_FORMAT["json_schema"]["schema"]).iter_errors(value)]
    if errors:
        return Verdict(
            Outcome.FAILED,
            f"the content breaks the schema sent: {'; '.join(errors)[:200]}",
            (exchange,),
            evidence=f"sent response_format json_schema; got content {text[:120]!r}",
        )
    return Verdict(Outcome.PASSED, "the content is valid against the json_schema sent")


@CHECKS.check(
    "semantic.parallel_tool_calls.false",
    "parallel_tool_calls",
    _field("parallel_tool_calls"),
    PARALLEL,
    capabilities=TOOLS,
    served=True,
    long=True,
)
def parallel_false(facts: Facts, exchange: Exchange) -> Verdict:
    """`parallel_tool_calls: false` gives at most one tool call."""
    calls = tool_calls_of(first_choice(exchange))
    if len(calls) > 1:
        return Verdict(
            Outcome.FAILED,
            "parallel_tool_calls=false was ignored",
            (exchange,),
            evidence=f"sent parallel_tool_calls=false; got {len(calls)} tool calls",
        )
    return Verdict(Outcome.PASSED, f"parallel_tool_calls=false; {len(calls)} tool call(s)")


@CHECKS.check("semantic.tool_calls.cut", "choices.finish_reason", FINISH, TOOL_CUT, capabilities=TOOLS, served=True)
def tool_cut(facts: Facts, exchange: Exchange) -> Verdict:
    """A tool call cut by the completion limit reports finish_reason `length`."""
    choice = first_choice(exchange)
    cut_by_limit(exchange, facts.limit_field)
    calls = [c for c in tool_calls_of(choice) if isinstance(c, dict)]
    arguments = [(c.get("function") or {}).get("arguments") for c in calls]
    complete = []
    for text in arguments:
        try:
            load_json(text) if isinstance(text, str) else None
            complete.append(isinstance(text, str))
        except ValueError:
            complete.append(False)
    if not calls or all(complete):
        raise Inconclusive(f"the tool call was not cut by {facts.limit_field}={CUT_LIMIT}")
    reason = choice.get("finish_reason")
    if reason == "length":
        return Verdict(Outcome.PASSED, "a tool call cut by the limit reports finish_reason 'length'")
    return Verdict(
        Outcome.FAILED,
        f"a tool call cut by the limit reports finish_reason {reason!r}, not 'length'",
        (exchange,),
        evidence=f"sent {facts.limit_field}={CUT_LIMIT}; got arguments {str(arguments)[:200]}",
    )


@CHECKS.check(
    "semantic.logprobs.top_logprobs",
    "top_logprobs",
    _field("top_logprobs"),
    LOGPROBS,
    capabilities=("logprobs",),
    served=True,
)
def logprobs(facts: Facts, exchange: Exchange) -> Verdict:
    """`logprobs: true, top_logprobs: k` gives per-token logprobs in the chat format, with k alternatives each."""
    choice = first_choice(exchange)
    content = (choice.get("logprobs") or {}).get("content") if isinstance(choice.get("logprobs"), dict) else None
    sent = f"logprobs=true, top_logprobs={TOP_K}"
    if not isinstance(content, list) or not content:
        got = choice.get("logprobs")
        return Verdict(
            Outcome.FAILED, "the logprobs asked for were dropped", (exchange,), evidence=f"sent {sent}; got {got!r}"
        )
    validator = facts.contract.validator(TOKEN_LOGPROB)
    for i, entry in enumerate(content):
        errors = [e.message for e in validator.iter_errors(entry)]
        alternatives = entry.get("top_logprobs") if isinstance(entry, dict) else None
        if not errors and (not isinstance(alternatives, list) or len(alternatives) != TOP_K):
            errors = [f"{len(alternatives) if isinstance(alternatives, list) else alternatives} alternatives"]
        if errors:
            return Verdict(
                Outcome.FAILED,
                f"token {i}'s logprobs break the contract: {'; '.join(errors)[:300]}",
                (exchange,),
                evidence=f"sent {sent}",
            )
    return Verdict(Outcome.PASSED, f"sent {sent}; {len(content)} tokens, {TOP_K} alternatives each")


@CHECKS.check("semantic.seed.reproducible", "seed", _field("seed"), FREE, FREE_AGAIN, long=True)
def seed(facts: Facts, first: Exchange, second: Exchange) -> Verdict:
    """The same request with a seed at temperature 0 twice gives the same content (best effort: SHOULD)."""
    a, b = content_of(first_choice(first)), content_of(first_choice(second))
    if a == b:
        return Verdict(Outcome.PASSED, f"seed={facts.seed}, temperature=0 twice: the same content")
    return Verdict(
        Outcome.FAILED,
        "the same seed gave different content",
        (first, second),
        evidence=f"sent seed={facts.seed}, temperature=0 twice; got {a[:80]!r} then {b[:80]!r}",
    )
