"""A provider's own conformance checks, run with the suite inside the provider's pytest session:

    pytest --conformance --conformance-base-url https://api.atoma.network \
        --conformance-model meta-llama/Llama-3.3-70B-Instruct examples/pytest/

(the key from CONFORMANCE_API_KEY). Each test that uses `conformance_send` is a check of the run: it sends through
the run's client (its key, request budget, deadlines), and its outcome is reported in summary.json, summary.md
and report.html as `custom.<test name>`, with the docstring's first line as its clause. Select them with
`-m custom`, or `-k` like any test.
"""

from __future__ import annotations

from typing import Any


def test_refusal_carries_atoma_error_code(conformance_send: Any, conformance_body: Any, conformance_judge: Any) -> None:
    """Atoma refuses an out-of-range temperature with its own error body: a 4xx whose error.code is BAD_REQUEST."""
    exchange = conformance_send(conformance_body(temperature=3))
    conformance_judge.rejected(exchange)
    error = conformance_judge.envelope(exchange)
    assert error.get("code") == "BAD_REQUEST", f"error.code is {error.get('code')!r}, not Atoma's BAD_REQUEST"


def test_one_token_limit_is_exact(conformance_send: Any, conformance_body: Any, conformance_judge: Any) -> None:
    """The model honours a completion limit of one token: usage.completion_tokens is at most 1."""
    exchange = conformance_send(conformance_body(max_completion_tokens=1))
    conformance_judge.accepted(exchange)
    body = conformance_judge.schema(exchange)
    used = body["usage"]["completion_tokens"]
    assert used <= 1, f"{used} completion tokens for a limit of 1"
