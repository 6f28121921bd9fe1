"""Issue 11: a targets file, known failures (baselines), and runs of several targets."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
import yaml
from conftest import KEY, MODEL, outcome_ids, run_cli, run_in_process, summary

from conformance.baseline import Baseline
from conformance.reference import serving
from conformance.reference.faults import HAND_WRITTEN
from conformance.transport import TargetClient

FAULT_FAILS = {"response.minimal.schema", "response.created"}  # what `created_string` turns failed


def write_baseline(path: Path, ids: set[str]) -> Path:
    known = [{"id": rid, "reason": "created is sent as a string", "issue": "https://example.invalid/1"} for rid in ids]
    path.write_text(yaml.safe_dump({"known": sorted(known, key=lambda k: k["id"])}))
    return path


@pytest.mark.slow  # over a second: the quick loop stays within two minutes
def test_a_baseline_turns_known_failures_xfailed_and_flags_stale_entries(tmp_path: Path) -> None:
    baseline = Baseline.load(write_baseline(tmp_path / "baseline.yaml", FAULT_FAILS))
    code, data = run_in_process(tmp_path, ("created_string",), args=HAND_WRITTEN, baseline=baseline)
    assert code == 0 and outcome_ids(data, "xfailed") == FAULT_FAILS and not outcome_ids(data, "failed")
    assert data["totals"]["xfailed"] == 2
    code, data = run_in_process(tmp_path, args=HAND_WRITTEN, baseline=baseline)
    assert code == 0 and outcome_ids(data, "xpassed") == FAULT_FAILS
    report = sorted(tmp_path.glob("reports-*"))[-1]
    assert (report / "summary.md").read_text().split("\n## ")[0].count("Stale baseline entries") == 1  # at the top
    code, _ = run_in_process(tmp_path, args=HAND_WRITTEN, baseline=baseline, strict_baseline=True)
    assert code == 1


def test_a_glob_entry_is_stale_only_when_none_of_its_results_fails(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump({"known": [{"id": "response.*", "reason": "created is a string"}]}))
    code, data = run_in_process(tmp_path, ("created_string",), args=HAND_WRITTEN, baseline=Baseline.load(path))
    assert code == 0 and outcome_ids(data, "xfailed") == FAULT_FAILS and not outcome_ids(data, "xpassed")


def test_a_baseline_is_written_from_a_run(tmp_path: Path) -> None:
    run_in_process(tmp_path, ("created_string",), args=HAND_WRITTEN)
    out = tmp_path / "known.yaml"
    proc = run_cli("baseline", str(next(tmp_path.glob("reports-*")) / "summary.json"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert {e.id for e in Baseline.load(out).entries} == FAULT_FAILS


@pytest.mark.slow
def test_all_targets_runs_each_into_its_own_directory(
    server: Callable[..., AbstractContextManager[str]], tmp_path: Path
) -> None:
    write_baseline(tmp_path / "known.yaml", FAULT_FAILS)
    with server() as clean, server(faults={"created_string"}) as broken:
        config = {
            "seed": 7,
            "skip": ["property.*", "client.*"],
            "targets": [
                {"name": "clean", "base_url": clean, "model": MODEL, "api_key_env": "CLEAN_KEY"},
                {"name": "broken", "base_url": broken, "model": MODEL, "api_key_env": "BROKEN_KEY"},
                {"name": "known", "base_url": broken, "model": MODEL, "api_key_env": "BROKEN_KEY",
                 "baseline": "known.yaml"},
            ],
        }  # fmt: skip
        path = tmp_path / "conformance.yaml"
        path.write_text(yaml.safe_dump(config))
        env = {"CLEAN_KEY": KEY, "BROKEN_KEY": KEY}
        reports = tmp_path / "reports"
        proc = run_cli("run", "--config", str(path), "--all-targets", "--report-dir", str(reports), env=env)
        assert proc.returncode == 1, proc.stderr[-2000:]
        exits = {name: summary(reports / name)["exit_code"] for name in ("clean", "broken", "known")}
        assert exits == {"clean": 0, "broken": 1, "known": 0}
        assert summary(reports / "broken")["target"]["name"] == "broken"
        assert outcome_ids(summary(reports / "known"), "xfailed") == FAULT_FAILS
        one = run_cli("run", "--config", str(path), "--target", "clean", "--report-dir", str(tmp_path / "one"), env=env)
        assert one.returncode == 0 and summary(tmp_path / "one")["target"]["name"] == "clean"
        unset = run_cli("run", "--config", str(path), "--target", "clean", "--report-dir", str(tmp_path / "x"))
        assert unset.returncode == 3 and "CLEAN_KEY is not set" in unset.stderr
        clash = run_cli("run", "--config", str(path), "--all-targets", "--base-url", clean, env=env)
        assert clash.returncode == 2 and "conflicts with the targets" in clash.stderr
        clash_env = run_cli("run", "--config", str(path), "--all-targets", env={**env, "CONFORMANCE_BASE_URL": clean})
        assert clash_env.returncode == 2


def test_config_check_validates_against_the_shipped_schema(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        yaml.safe_dump(
            {
                "targets": [
                    {
                        "name": "azure",
                        "base_url": "https://example.openai.azure.com",
                        "chat_path": "/openai/deployments/gpt4o/chat/completions",
                        "query": {"api-version": "2024-10-21"},
                        "api_key_env": "AZURE_KEY",
                        "auth": {"header": "api-key", "prefix": ""},
                        "model": "gpt-4o",
                        "profile": "openai",
                    }
                ]
            }
        )
    )
    assert run_cli("config", "check", str(good)).returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"targets": [{"name": "x", "base_url": "ftp://h", "model": "m"}]}))
    proc = run_cli("config", "check", str(bad))
    assert proc.returncode == 2 and "targets.0.base_url" in proc.stderr
    secret = tmp_path / "secret.yaml"
    secret.write_text("api_key: sk-in-a-file\n")
    assert run_cli("config", "check", str(secret)).returncode == 2


def test_a_custom_chat_path_query_and_auth_header(tmp_path: Path) -> None:
    """Azure's shape: another path, an api-version query parameter, the key in `api-key` without a prefix."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    client = TargetClient(
        "https://h.example",
        KEY,
        chat_path="/openai/deployments/d/chat/completions",
        query={"api-version": "2024-10-21"},
        auth_header="api-key",
        auth_prefix="",
        transport=httpx.MockTransport(answer),
    )
    exchange = client.chat({"model": "m", "messages": []})
    request = seen[0]
    assert request.url.path == "/openai/deployments/d/chat/completions"
    assert request.url.params["api-version"] == "2024-10-21"
    assert request.headers["api-key"] == KEY and "authorization" not in request.headers
    assert KEY not in exchange.curl() and "api-key: $CONFORMANCE_API_KEY" in exchange.curl()
    assert json.loads(exchange.text) == {"ok": True}


@pytest.mark.slow
def test_an_azure_shaped_target_end_to_end(server: Callable[..., AbstractContextManager[str]], tmp_path: Path) -> None:
    """A target behind another chat path, an `api-version` query parameter and an `api-key` header (a proxy in
    front of the reference server translates): every check passes, `auth.non_bearer_scheme` is skipped."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    with server() as upstream:

        async def forward(request: Request) -> Response:
            if request.query_params.get("api-version") != "2024-10-21":
                return Response('{"error": {"code": "404", "message": "no api-version"}}', 404)
            headers = {"content-type": "application/json"}
            if "api-key" in request.headers:
                headers["authorization"] = f"Bearer {request.headers['api-key']}"
            async with httpx.AsyncClient() as client:
                answer = await client.post(f"{upstream}/v1/chat/completions", content=await request.body(),
                                           headers=headers)  # fmt: skip
            kept = {"content-type": answer.headers.get("content-type", "application/json")}
            return Response(answer.content, answer.status_code, headers=kept)

        app = Starlette(routes=[Route("/openai/deployments/d/chat/completions", forward, methods=["POST"])])
        with serving(app) as url:
            target = {
                "name": "azure", "base_url": url, "model": MODEL, "api_key_env": "AZURE_KEY",
                "chat_path": "/openai/deployments/d/chat/completions", "query": {"api-version": "2024-10-21"},
                "auth": {"header": "api-key", "prefix": ""},
            }  # fmt: skip
            config = tmp_path / "c.yaml"
            config.write_text(yaml.safe_dump({"seed": 7, "skip": ["property.*"], "targets": [target]}))
            proc = run_cli("run", "--config", str(config), "--target", "azure", "--report-dir", str(tmp_path / "r"),
                           env={"AZURE_KEY": KEY})  # fmt: skip
    data = summary(tmp_path / "r")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    outcomes = {r["id"]: r["outcome"] for r in data["results"]}
    assert outcomes["auth.non_bearer_scheme"] == "skipped"
    assert outcomes["auth.wrong_token"] == outcomes["auth.missing_token"] == "passed"
    # no 429 met; the translating proxy forwards no x-ratelimit-* header: nothing for ratelimit.* to judge
    assert outcomes["ratelimit.envelope"] == outcomes["ratelimit.headers"] == "skipped"
    judged = {o for rid, o in outcomes.items() if rid != "auth.non_bearer_scheme" and not rid.startswith("ratelimit.")}
    assert judged <= {"passed", "warned"}
    assert KEY not in (tmp_path / "r" / "summary.json").read_text()
