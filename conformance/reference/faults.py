"""Faults the reference server can be started with: each breaks one clause, so each check can be shown to fail.

A fault is a name (`chat_500`) or, for the parametric ones, a name and a request field (`range_500:temperature`).
"""

from __future__ import annotations

__all__ = ["FAULTS", "PARAMETRIC", "fault_fields", "validate_faults"]

FAULTS: dict[str, str] = {
    # the minimal request and the response contract
    "chat_500": "every chat completion answers 500",
    "unavailable_after_preflight": "after the first request, every chat completion answers 503 (Retry-After: 0)",
    "payment_required": "every chat completion answers 402 FIAT_PAYMENTS_ONLY (a provider state: exit 3)",
    "wrong_content_type": "a 200 completion is sent as text/plain",
    "created_string": "`created` is sent as a string",
    "created_float": "`created` is sent as a float",
    "created_ms": "`created` is sent in milliseconds",
    "object_wrong": "`object` is `chat.completions`",
    "id_empty": "`id` is an empty string",
    "role_user": "the response message role is `user`",
    "finish_reason_empty": "`finish_reason` is an empty string",
    "usage_total_wrong": "`usage.total_tokens` is not prompt + completion",
    "usage_missing": "no `usage` in completions",
    "extra_keys": "responses carry extra keys (`signature`, `response_hash`, as Atoma's do): must not fail anything",
    "choices_string": "`choices` is a JSON-encoded string (E2)",
    "error_flat": "400 answers are plain text, not the error envelope",
    # auth
    "auth_not_enforced": "requests without or with a wrong token are served",
    "auth_any_token": "any bearer token is accepted; only a missing header is refused",
    "auth_any_scheme": "the key is accepted under any scheme (`Token KEY`), not only `Bearer`",
    "auth_flat_error": '401 answers carry a flat `{"message": ...}` body, not the error envelope',
    # request fields
    "stop_unchecked": "more stop sequences than the maximum are accepted",
    "stop_500": "more stop sequences than the maximum answer 500",
    "stop_max_exclusive": "exactly the maximum number of stop sequences is rejected",
    "openai_extensions": "values only OpenAI's contract allows are accepted (plain-string stop, required, developer)",
    "tool_choice_unchecked": "any tool_choice string is accepted",
    "named_tool_choice_rejected": "a named-function tool_choice is rejected",
    "tools_malformed_500": "a malformed `tools` entry answers 500",
    "model_optional": "a request without `model` is served with a default model",
    "messages_missing_500": "a request without `messages` answers 500",
    "malformed_json_422": "a body that is not JSON answers 422 (not the 400 it should)",
    "malformed_json_500": "a body that is not JSON answers 500",
    "any_model": "an unknown model is served",
    "response_format_500": "a malformed `response_format` answers 500",
    "empty_messages_500": "`messages: []` answers 500",
    "content_parts_500": "message content given as an array of parts answers 500",
    # semantics
    "ignore_completion_limit": "`max_completion_tokens` is ignored",
    "ignore_max_tokens": "`max_tokens` is ignored",
    "finish_stop_when_cut": "output cut by the token limit reports finish_reason `stop`",
    "stop_ignored": "stop sequences are ignored",
    "stop_includes_sequence": "the output includes the stop sequence that ended it",
    "stop_finish_length": "output ended by a stop sequence reports finish_reason `length`",
    "ignore_n": "`n` is silently ignored (one choice)",
    "tool_choice_none_ignored": "`tool_choice: none` still calls a tool",
    "named_tool_ignored": "a named tool_choice calls the first tool instead",
    "arguments_object": "tool-call `arguments` is a JSON object, not a string",
    "json_object_ignored": "`response_format: json_object` is accepted and ignored",
    "json_schema_ignored": "`response_format: json_schema` is accepted but its schema is not enforced",
    "parallel_ignored": "`parallel_tool_calls: false` is ignored: several tools are called at once",
    "tool_cut_reports_tool_calls": "a tool call cut by the completion limit reports finish_reason `tool_calls`",
    "logprobs_dropped": "`logprobs: true` is accepted and silently dropped",
    "top_logprobs_fewer": "one alternative fewer than `top_logprobs` asks",
    "logprobs_bytes_strings": "logprobs `bytes` are strings, not integers",
    "seed_ignored": "`seed` is ignored: every request samples anew",
    # found by the property layer: inputs the hand-written checks never send
    "assistant_message_500": "a conversation with an assistant turn answers 500",
    "schema_break_with_logprobs": "with `logprobs` sent, choice indexes are strings (breaks only for some inputs)",
    # streaming
    "stream_content_type_json": "streams are sent as application/json",
    "stream_no_done": "streams end without `data: [DONE]`",
    "stream_bad_json": "a stream carries a data line that is not JSON",
    "stream_object_wrong": "chunks carry `object: chat.completion`",
    "stream_ids_vary": "every chunk has its own `id`",
    "stream_finish_reason_empty": "the last chunk's finish_reason is an empty string",
    "stream_finish_twice": "finish_reason is sent in two chunks",
    "stream_drops_delta": "a content delta is dropped: the stream's text differs from the completion's",
    "stream_no_usage": "`stream_options.include_usage` is ignored",
    "stream_usage_unasked": "a usage chunk is sent even when not asked (as Atoma's node does)",
    "stream_tool_index_missing": "streamed tool-call deltas after the first carry no `index`",
    "stream_keepalive": "`: keep-alive` comment lines between events: must not fail anything",
}

PARAMETRIC: dict[str, str] = {
    "range_unchecked": "FIELD outside its bounds is accepted",
    "range_500": "FIELD outside its bounds answers 500 (Atoma's proxy passes a backend 400 on as 500)",
    "range_exclusive": "FIELD exactly at a bound is rejected (bounds taken as exclusive)",
    "range_tolerant": "FIELD up to 1 beyond a bound is accepted (a rounding tolerance)",
    "type_unchecked": "FIELD of the wrong JSON type is accepted",
    "reject_field": "a request carrying FIELD is refused with 400",
    "refuse": "requests using the capability FIELD (tools, logprobs, n, response_format, stream) get 400",
}


def validate_faults(faults: frozenset[str]) -> None:
    """Raise ValueError naming any fault that does not exist."""
    unknown = sorted(
        f for f in faults if f not in FAULTS and not (f.partition(":")[0] in PARAMETRIC and f.partition(":")[2])
    )
    if unknown:
        raise ValueError(f"unknown fault(s): {', '.join(unknown)} (see `conformance serve --list-faults`)")


def fault_fields(faults: frozenset[str], name: str) -> set[str]:
    """The fields a parametric fault is switched on for."""
    return {f.partition(":")[2] for f in faults if f.partition(":")[0] == name}
