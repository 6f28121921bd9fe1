"""The reference server's stand-in model: behaviours clients rely on beyond the checks."""

from __future__ import annotations

from conformance.reference.model import generate

TOOL = {"type": "function", "function": {"name": "get_local_time", "parameters": {"type": "object", "properties": {}}}}


def test_a_tool_loop_ends_with_text_after_a_tool_result() -> None:
    asked = {"messages": [{"role": "user", "content": "What time is it in Paris?"}], "tools": [TOOL]}
    first = generate(asked, limit=64).choices[0]
    assert first.tool_calls and first.finish_reason == "tool_calls"
    call = first.tool_calls[0]
    turn = {"role": "assistant", "content": None, "tool_calls": [{"id": call.id, "type": "function"}]}
    answered = {
        **asked,
        "messages": [*asked["messages"], turn, {"role": "tool", "tool_call_id": call.id, "content": "9:00"}],
    }
    second = generate(answered, limit=64).choices[0]
    assert not second.tool_calls and second.content and second.finish_reason in ("stop", "length")
