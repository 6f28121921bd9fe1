"""The pytest plugin: `pytest --conformance` runs the suite inside a pytest session (entry point `conformance` in
the `pytest11` group).

Installing the suite loads this module into every pytest session of that environment, so it does nothing unless
`--conformance` is given, and imports only pytest and the standard library until then: everything else is
imported inside the hooks and fixtures (`conformance.plugin.session`). How a session maps the run onto pytest
items is told in `conformance.plugin.session`; provider-written checks in `conformance.plugin.custom`.

Options: `--conformance-NAME` for every option NAME of `conformance run` (the API key only from the environment,
as for the command), passed to the command's own parser, so precedence and checks are the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conformance.plugin.session import Session

__all__ = ["AREAS", "LEVELS", "OPTIONS", "run_args"]

# (option of `conformance run`, argparse action, help); `--conformance-` + the name in pytest
OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("config", "store", "YAML file of run options and targets (as `conformance run --config`)."),
    ("base-url", "store", "Server root; absent: the bundled reference server (CONFORMANCE_BASE_URL)."),
    ("model", "store", "Model name; required with a base URL (CONFORMANCE_MODEL)."),
    ("profile", "store", "Which contract: atoma or openai (CONFORMANCE_PROFILE)."),
    ("spec", "store", "Contract document; default: the packaged openapi.yaml."),
    ("report-dir", "store", "Where summary.json, summary.md, junit.xml, allure-results/ go (default reports/)."),
    ("seed", "store", "Default random; recorded; the same seed sends the same requests."),
    ("max-examples", "store", "Property-based examples per generation mode."),
    ("max-requests", "store", "Hard cap on requests sent, the provider's own checks included."),
    ("only", "append", "Plan only result ids matching this glob (repeatable)."),
    ("skip", "append", "Do not plan result ids matching this glob (repeatable)."),
    ("timeout", "store", "Whole-response deadline per request, in seconds (default 30)."),
    ("max-response-bytes", "store", "Largest answer read, after decompression."),
    ("concurrency", "store", "Requests in flight at once (default 4; CONFORMANCE_CONCURRENCY)."),
    ("rate", "store", "At most this many requests per second (default: unpaced)."),
    ("probe-rate-limit", "store", "Opt in: up to N small requests until a 429, judged by ratelimit.envelope."),
    ("capability", "append", "Declare a capability the target offers (repeatable)."),
    ("target", "store", "Run the config's target of this name."),
    ("baseline", "store", "Known failures: failed -> xfailed, stale entries -> xpassed."),
    ("strict-baseline", "store_true", "A stale baseline entry (xpassed) fails."),
)
AREAS = ("request", "response", "semantic", "stream", "auth", "client", "property", "load", "ratelimit", "custom")
LEVELS = ("must", "should")
SESSION = pytest.StashKey["Session"]()


def _dest(name: str) -> str:
    return "conformance_" + name.replace("-", "_")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "contract conformance of a chat-completions API")
    group.addoption(
        "--conformance",
        action="store_true",
        default=False,
        help="Collect the conformance suite: one item per planned result id (needs no test path).",
    )
    for name, action, text in OPTIONS:
        default = False if action == "store_true" else None
        group.addoption(f"--conformance-{name}", action=action, dest=_dest(name), default=default, help=text)


def run_args(config: pytest.Config) -> list[str]:
    """The `conformance run` arguments the session's `--conformance-*` options stand for."""
    args: list[str] = []
    for name, action, _ in OPTIONS:
        value = config.getoption(_dest(name))
        if action == "store_true":
            args += [f"--{name}"] if value else []
        elif action == "append":
            for item in value or ():
                args += [f"--{name}", str(item)]
        elif value is not None:
            args += [f"--{name}", str(value)]
    return args


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("conformance"):
        return
    for area in AREAS:
        config.addinivalue_line("markers", f"{area}: conformance results of the {area} area")
    config.addinivalue_line("markers", "must: conformance results of a MUST clause")
    config.addinivalue_line("markers", "should: conformance results of a SHOULD clause")
    from conformance.plugin.session import Session

    session = Session.configure(config, run_args(config))
    config.stash[SESSION] = session
    config.pluginmanager.register(session, "conformance-session")


def _session(request: pytest.FixtureRequest) -> Session:
    session = request.config.stash.get(SESSION, None)
    if session is None:
        pytest.skip("a conformance check: run it with `pytest --conformance`")
    return session


@pytest.fixture
def conformance_target(request: pytest.FixtureRequest) -> Any:
    """The run's client (`conformance.transport.TargetClient`): its key, budget, deadlines and size caps. What it
    sends directly is counted but not recorded; `conformance_send` records its exchanges for the reports."""
    return _session(request).opened_run().client


@pytest.fixture
def conformance_contract(request: pytest.FixtureRequest) -> Any:
    """The run's contract (`conformance.contract.Contract`): the profile's `openapi.yaml`, its clauses, schemas."""
    return _session(request).settings.contract


@pytest.fixture
def conformance_send(request: pytest.FixtureRequest) -> Any:
    """`conformance_send(body, stream=False)`: send a chat-completions request through the run's client and
    return its recorded `Exchange`. A test using it is a check of the run, reported as `custom.<test name>`."""
    return _session(request).sender(request.node)


@pytest.fixture
def conformance_body(request: pytest.FixtureRequest) -> Any:
    """`conformance_body(**fields)`: the run's minimal valid request (its model, one message, its small completion
    limit) with `fields` set (a None value drops the field)."""
    return _session(request).body


@pytest.fixture
def conformance_judge(request: pytest.FixtureRequest) -> Any:
    """The suite's judgements as assertions (`conformance.plugin.custom.Judging`): `accepted`, `rejected`,
    `status`, `envelope`, `schema`."""
    from conformance.plugin.custom import Judging

    return Judging(_session(request).settings.contract)
