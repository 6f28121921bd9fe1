"""Every check proven twice: it passes on the reference server, and fails with its fault injected.

Each run asserts the exact sets of failed, warned and unsupported result ids, so neither a server nor a
suite that fails everything can pass, and a fault that should only warn (a SHOULD clause, an OpenAI-only
value, a refused capability) is shown not to fail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from conftest import outcome_ids

RANGED = ["frequency_penalty", "presence_penalty", "logit_bias", "temperature", "top_logprobs"]
OUTSIDE = ["below_minimum", "above_maximum", "far_below_minimum", "far_above_maximum"]
STREAM_MAIN = {
    f"stream.{n}"
    for n in (
        "content_type",
        "data_json",
        "chunk_schema",
        "single_id",
        "finish_reason",
        "done",
        "content_matches",
        "usage_chunk",
    )
}
FINISH_SEMANTICS = {
    "semantic.max_completion_tokens.finish_reason",
    "semantic.max_tokens.finish_reason",
    "semantic.tool_calls.cut",
}
AUTH = {"auth.missing_token", "auth.wrong_token", "auth.non_bearer_scheme"}


def ids(fields: list[str], names: list[str]) -> set[str]:
    return {f"request.{f}.{n}" for f in fields for n in names}


@dataclass
class Expect:
    """What a run against a faulty server must report, exactly."""

    failed: set[str]
    warned: set[str] = field(default_factory=set)
    unsupported: set[str] = field(default_factory=set)
    profile: str = "atoma"
    args: tuple[str, ...] = ()


FAULTS: dict[str, Expect] = {
    # the minimal request and the response contract
    "chat_500": Expect({"response.minimal.status"}),
    "wrong_content_type": Expect({"response.minimal.content_type"}),
    "created_string": Expect({"response.minimal.schema", "response.created"}),
    "created_float": Expect({"response.minimal.schema", "response.created"}),
    "created_ms": Expect({"response.created"}),
    "object_wrong": Expect(set(), warned={"response.object"}),
    "id_empty": Expect({"response.minimal.schema", "response.id"}),
    "role_user": Expect({"response.minimal.schema", "response.message.role"}),
    "finish_reason_empty": Expect(
        set(),
        warned={"response.finish_reason", "semantic.stop.finish_reason", "semantic.tool_choice.named"}
        | FINISH_SEMANTICS,
    ),
    "usage_total_wrong": Expect({"response.usage", "stream.usage_chunk"}),
    "usage_missing": Expect({"stream.usage_chunk"}, warned={"response.usage"}),
    "extra_keys": Expect(set()),
    "choices_string": Expect({"response.minimal.schema", "response.choices"}),
    "error_flat": Expect({"response.error.envelope"}),
    # auth
    "auth_not_enforced": Expect(AUTH),
    "auth_any_token": Expect({"auth.wrong_token"}),
    "auth_any_scheme": Expect({"auth.non_bearer_scheme"}),
    "auth_flat_error": Expect(AUTH),
    # request fields
    "stop_unchecked": Expect({"request.stop.too_many_sequences"}),
    "stop_500": Expect({"request.stop.too_many_sequences"}),
    "stop_max_exclusive": Expect({"request.stop.max_sequences"}),
    "openai_extensions": Expect(
        set(), warned={"request.stop.plain_string", "request.tool_choice.required", "request.messages.developer_role"}
    ),
    "tool_choice_unchecked": Expect({"request.tool_choice.not_a_member"}, warned={"request.tool_choice.required"}),
    "named_tool_choice_rejected": Expect({"request.tool_choice.named_function"}),
    "tools_malformed_500": Expect({"request.tools.malformed"}),
    "model_optional": Expect({"request.model.missing"}),
    "messages_missing_500": Expect({"request.messages.missing"}),
    "malformed_json_422": Expect(set(), warned={"request.body.malformed_json"}),
    "malformed_json_500": Expect({"request.body.malformed_json"}),
    "any_model": Expect({"request.model.unknown"}),
    "response_format_500": Expect({"request.response_format.malformed"}),
    "empty_messages_500": Expect({"request.messages.empty"}),
    "content_parts_500": Expect({"request.messages.content_parts"}),
    "reject_field:seed": Expect({"request.seed.accepted"}),
    "reject_field:user": Expect({"request.user.accepted"}),
    "reject_field:service_tier": Expect({"request.service_tier.accepted"}),
    "reject_field:parallel_tool_calls": Expect({"request.parallel_tool_calls.accepted"}),
    "reject_field:max_tokens": Expect({"request.max_tokens.accepted"}),
    "reject_field:temperature": Expect(ids(["temperature"], ["at_minimum", "at_maximum"])),
    # semantics
    "ignore_completion_limit": Expect({"response.minimal.completion_limit", "semantic.max_completion_tokens.usage"}),
    "ignore_max_tokens": Expect({"semantic.max_tokens.usage"}),
    "finish_stop_when_cut": Expect(set(), warned=FINISH_SEMANTICS),
    "stop_ignored": Expect({"semantic.stop.truncates"}),
    "stop_includes_sequence": Expect({"semantic.stop.truncates"}),
    "stop_finish_length": Expect(set(), warned={"semantic.stop.finish_reason"}),
    "ignore_n": Expect({"semantic.n.choices"}),
    "tool_choice_none_ignored": Expect({"semantic.tool_choice.none"}),
    "named_tool_ignored": Expect({"semantic.tool_choice.named"}),
    "arguments_object": Expect({"semantic.tool_calls.arguments"}),
    "json_object_ignored": Expect({"semantic.response_format.json_object"}),
    "json_schema_ignored": Expect({"semantic.response_format.json_schema"}),
    "parallel_ignored": Expect({"semantic.parallel_tool_calls.false"}),
    "tool_cut_reports_tool_calls": Expect(set(), warned={"semantic.tool_calls.cut"}),
    "logprobs_dropped": Expect({"semantic.logprobs.top_logprobs"}),
    "top_logprobs_fewer": Expect({"semantic.logprobs.top_logprobs"}),
    "logprobs_bytes_strings": Expect({"semantic.logprobs.top_logprobs"}),
    "seed_ignored": Expect(set(), warned={"semantic.seed.reproducible"}),
    # streaming
    "stream_content_type_json": Expect({"stream.content_type"}),
    "stream_no_done": Expect({"stream.done"}),
    "stream_bad_json": Expect({"stream.data_json"}),
    "stream_object_wrong": Expect({"stream.chunk_schema"}),
    "stream_ids_vary": Expect({"stream.single_id"}),
    "stream_finish_reason_empty": Expect(set(), warned={"stream.finish_reason"}),
    "stream_finish_twice": Expect(set(), warned={"stream.finish_reason"}),
    "stream_drops_delta": Expect({"stream.content_matches"}),
    "stream_no_usage": Expect({"stream.usage_chunk"}),
    "stream_usage_unasked": Expect(set(), warned={"stream.no_usage_unasked"}),
    "stream_tool_index_missing": Expect({"stream.tool_call_index"}),
    "stream_keepalive": Expect(set()),
    # optional capabilities cleanly refused: unsupported, never failed (rule 4) ...
    "refuse:tools": Expect(
        set(),
        unsupported={
            "request.tool_choice.none",
            "request.tool_choice.auto",
            "request.tool_choice.named_function",
            "request.parallel_tool_calls.accepted",
            "request.tools.accepted",
            "semantic.tool_choice.none",
            "semantic.parallel_tool_calls.false",
            "semantic.tool_calls.cut",
            "semantic.tool_choice.named",
            "semantic.tool_calls.arguments",
            "stream.tool_call_index",
        },
    ),
    "refuse:logprobs": Expect(
        set(),
        unsupported={
            "request.top_logprobs.at_minimum",
            "request.top_logprobs.at_maximum",
            "request.logprobs.accepted",
            "semantic.logprobs.top_logprobs",
        },
    ),
    "refuse:n": Expect(set(), unsupported={"request.n.accepted", "semantic.n.choices"}),
    "refuse:response_format": Expect(
        set(),
        unsupported={
            "request.response_format.json_object",
            "request.response_format.json_schema",
            "semantic.response_format.json_object",
            "semantic.response_format.json_schema",
        },
    ),
    "refuse:stream": Expect(
        set(),
        unsupported={
            "request.stream.accepted",
            "request.stream_options.accepted",
            "stream.no_usage_unasked",
            "stream.tool_call_index",
        }
        | STREAM_MAIN,
    ),
}
# ... unless the target declares the capability
DECLARED = {"refuse:n": Expect({"request.n.accepted", "semantic.n.choices"}, args=("--capability", "n"))}
# the openai profile: stricter clauses fail where the atoma profile warns, and OpenAI-only values are valid
OPENAI = {
    "": Expect(set(), profile="openai"),
    "object_wrong": Expect({"response.minimal.schema", "response.object"}, profile="openai"),
    "finish_stop_when_cut": Expect(FINISH_SEMANTICS, profile="openai"),
    "finish_reason_empty": Expect(
        {
            "response.minimal.schema",
            "response.finish_reason",
            "semantic.stop.finish_reason",
            "semantic.tool_choice.named",
        }
        | FINISH_SEMANTICS,
        profile="openai",
    ),
    "stream_finish_reason_empty": Expect({"stream.finish_reason", "stream.chunk_schema"}, profile="openai"),
    "openai_extensions": Expect(set(), profile="openai"),
    "range_unchecked:n,range_unchecked:top_p": Expect(ids(["n", "top_p"], OUTSIDE), profile="openai"),
}
RANGE_FAULTS: dict[str, set[str]] = {
    "range_unchecked": ids(RANGED, OUTSIDE),
    "range_500": ids(RANGED, OUTSIDE),
    "range_exclusive": ids(RANGED, ["at_minimum", "at_maximum"]),
    "range_tolerant": ids(RANGED, ["below_minimum", "above_maximum"]),
    "type_unchecked": ids(RANGED, ["wrong_type", "boolean"]),
}


def check(data: dict[str, Any], expect: Expect) -> None:
    got = {o: outcome_ids(data, o) for o in ("failed", "warned", "unsupported", "error")}
    assert got == {"failed": expect.failed, "warned": expect.warned, "unsupported": expect.unsupported, "error": set()}


@pytest.mark.parametrize("variant", ["lenient", "strict"])
@pytest.mark.parametrize("profile", ["atoma", "openai"])
def test_reference_server_passes_everything(
    profile: str, variant: str, server: Callable[..., Any], run_against: Callable[..., Any]
) -> None:
    """Both variants, both profiles: zero failed. The strict variant shows the suite does not over-assert."""
    with server(profile=profile, variant=variant) as url:
        proc, data = run_against(url, "--profile", profile)
    assert proc.returncode == 0, proc.stderr
    assert outcome_ids(data, "failed") == outcome_ids(data, "error") == outcome_ids(data, "unsupported") == set()
    assert data["totals"]["passed"] + data["totals"]["warned"] == len(data["results"]) > 90
    # what the strict variant refuses of generated valid requests is `warned` (rule 3), nothing else
    assert all(rid.startswith("property.positive_data_acceptance") for rid in outcome_ids(data, "warned"))


def run_fault(faults: str, expect: Expect, server: Callable[..., Any], run_against: Callable[..., Any]) -> None:
    with server(faults={f for f in faults.split(",") if f}, profile=expect.profile) as url:
        proc, data = run_against(url, "--profile", expect.profile, "--skip", "property.*", *expect.args)
    check(data, expect)
    assert proc.returncode == (1 if expect.failed else 0), proc.stderr


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_is_caught(fault: str, server: Callable[..., Any], run_against: Callable[..., Any]) -> None:
    run_fault(fault, FAULTS[fault], server, run_against)


@pytest.mark.parametrize("fault", sorted(DECLARED))
def test_declared_capability_refused_fails(
    fault: str, server: Callable[..., Any], run_against: Callable[..., Any]
) -> None:
    run_fault(fault, DECLARED[fault], server, run_against)


@pytest.mark.parametrize("fault", sorted(OPENAI))
def test_openai_profile(fault: str, server: Callable[..., Any], run_against: Callable[..., Any]) -> None:
    run_fault(fault, OPENAI[fault], server, run_against)


@pytest.mark.parametrize("fault", sorted(RANGE_FAULTS))
def test_range_fault_is_caught_on_every_field(
    fault: str, server: Callable[..., Any], run_against: Callable[..., Any]
) -> None:
    faults = ",".join(f"{fault}:{name}" for name in RANGED)
    run_fault(faults, Expect(RANGE_FAULTS[fault]), server, run_against)


def test_every_fault_is_exercised() -> None:
    from conformance.reference import FAULTS as CATALOGUE
    from conformance.reference import PARAMETRIC

    # exercised in tests/test_property.py and tests/test_client.py
    property_layer = {
        "assistant_message_500",
        "schema_break_with_logprobs",
        "payment_required",
        "unavailable_after_preflight",
    }
    named = {f.partition(":")[0] for spec in [*FAULTS, *OPENAI, *RANGE_FAULTS] for f in spec.split(",") if f}
    assert set(CATALOGUE) | set(PARAMETRIC) <= named | set(RANGE_FAULTS) | property_layer


def test_chat_500_skips_the_rest(server: Callable[..., Any], run_against: Callable[..., Any]) -> None:
    with server(faults={"chat_500"}) as url:
        _, data = run_against(url, "--skip", "property.*")
    skipped = outcome_ids(data, "skipped")
    assert "request.temperature.above_maximum" in skipped and "auth.missing_token" in skipped
    assert data["totals"]["requests"] == 1  # only the preflight was sent
