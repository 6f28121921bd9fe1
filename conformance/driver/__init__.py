"""The generic driver: plans from the check registry, sends each distinct recipe once, judges, records.

It maps what is not the target's fault to its outcome before a judge sees anything: a skipped selection, an
exhausted budget, infrastructure trouble (rule 5), a refused capability (rule 4), an inconclusive output
(rule 7); it stops sending after three consecutive infrastructure errors. The property layer is run by
`conformance.driver.property`, which returns its results to the driver.

Results are frozen records: the driver makes each one complete (`_timed`: its times; `_record`: redacted, as it
leaves the process) and appends it to its list; nothing changes a result once recorded.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field

from conformance.checks import (
    BASIC,
    PREFLIGHT,
    RUN_KEY,
    Check,
    Facts,
    Inconclusive,
    Recipe,
    clean_4xx,
    evaluate,
    is_server_error,
    make_result,
    selected,
)
from conformance.driver.pool import Pool
from conformance.driver.pregenerate import Pregenerated
from conformance.driver.saved import Recorder
from conformance.records import Exchange, Outcome, Result
from conformance.transport import DEFAULT_AUTH, BudgetExhausted, TargetClient

__all__ = ["MAX_CONSECUTIVE_ERRORS", "Driver", "recipe_keys", "selected", "static_skip", "uses_status_limit"]

MAX_CONSECUTIVE_ERRORS = 3


def _recipes(recipes: Iterable[Recipe]) -> list[Recipe]:
    """`recipes` and the recipes each is built after."""
    out: list[Recipe] = []
    for recipe in recipes:
        out += [recipe, *_recipes(recipe.after)]
    return out


def recipe_keys(recipes: Iterable[Recipe]) -> set[str]:
    """The cache keys of `recipes` and of the recipes each is built after."""
    out: set[str] = set()
    for recipe in recipes:
        if recipe.observe is None:  # an observation is no request
            out |= {recipe.key} | recipe_keys(recipe.after)
    return out


_keys = recipe_keys


def uses_status_limit(checks: Iterable[Check], facts: Facts) -> bool:
    """Whether any of `checks` not skipped whatever the target answers (`static_skip`) sends a request judged by its
    status alone (at `Facts.status_limit`): a recipe so marked, or the property layer's negative mode (its invalid
    bodies and their attribution). The run sends the status limit's control, and its plan counts it, by this."""
    return any(
        (c.kind == "property" and c.params.get("mode") == "negative") or any(r.status_only for r in _recipes(c.recipes))
        for c in checks
        if static_skip(c, facts) is None
    )


def static_skip(check: Check, facts: Facts) -> str | None:
    """Why `check` is skipped whatever the target answers (no key; a custom auth header), or None."""
    if check.needs_key and not facts.api_key_given:
        return "no --api-key given"
    if check.bearer_only and not facts.bearer_auth:
        return "the target authenticates with a custom header, not the Bearer scheme"
    return None


@dataclass
class Driver:
    """Runs planned checks against one target through one client, after its preflight."""

    facts: Facts
    client: TargetClient
    preflight: Exchange
    only: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)
    progress: bool = True
    max_examples: int | None = None
    known: Callable[[str], object] | None = None  # the baseline's entry for an id: a known failure shows as xfailed
    skip_all: str | None = None  # the preflight was not answered 200: only checks of the preflight run
    probe_rate_limit: int | None = None  # opt in: up to this many requests until a 429 (`driver.load.probe`)
    stop_reason: str | None = None
    results: list[Result] = field(default_factory=list)  # recorded so far, in order (append only)
    cache: dict[str, Exchange] = field(default_factory=dict)
    concurrency: int = 1  # requests in flight at most; results and their order do not depend on it
    recorder: Recorder | None = None  # saves each exchange as received, for `conformance rejudge`
    pregenerated: Pregenerated | None = None  # the property layer's bodies, made by a helper process meanwhile
    _futures: dict[str, Future[Exchange]] = field(default_factory=dict)
    _pool: Pool | None = None
    _ahead: int = 0  # the position in the plan up to which recipes were submitted
    _errors_in_a_row: int = 0
    _planned: int = 0
    _done: int = 0

    def run(self, checks: list[Check]) -> list[Result]:
        """Run the selected `checks` in order; return every result (also kept in `self.results`). The property
        layer's checks run together, as one step, where the first of them is."""
        self.cache.setdefault(PREFLIGHT.key, self.preflight)
        if self.recorder is not None:
            self.recorder.add(PREFLIGHT.key, self.preflight)
        chosen = [c for c in checks if selected(c.id, self.only, self.skip)]
        self._planned = len(chosen)
        last_use = {key: i for i, check in enumerate(chosen) for key in _keys(check.recipes)}
        layer = [c for c in chosen if c.kind == "property"]
        if self.concurrency > 1:
            self._pool = Pool(self.concurrency)
        try:
            self._run(chosen, layer, last_use)
        finally:
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None
        return self.results

    def _run(self, chosen: list[Check], layer: list[Check], last_use: dict[str, int]) -> None:
        """Judge `chosen` in order (the sends ahead of it, up to `concurrency` in flight, when there is a pool)."""
        for i, check in enumerate(chosen):
            self._send_ahead(chosen, i)
            if check.kind == "property":
                if check is layer[0]:
                    self._property_layer(layer)
                continue
            started, wall = time.monotonic(), time.time()
            results = self._results(check)
            self._done += 1
            for result in _timed(results, time.monotonic() - started, wall, time.time()):
                self._record(result, planned=result.id == check.id)
            for key in _keys(check.recipes):  # judged by every check that reads it: keep an excerpt only
                if key in self.cache:
                    self._futures.pop(key, None)  # answered: no longer in the window of what is sent ahead
                if last_use.get(key) == i and key in self.cache:
                    self.cache[key] = self.cache[key].excerpt()

    def _send_ahead(self, chosen: list[Check], position: int) -> None:
        """With a pool: the recipes the hand-written checks from `position` on will send, submitted in plan order
        (what a recipe is built after first) while fewer than `concurrency` are unanswered, each with a request of
        the budget reserved in that order: the same requests are sent, and the same ones cut by `--max-requests`,
        whatever the concurrency. Judging stays in plan order; once the run stops (three infrastructure errors in
        a row) nothing more is submitted, and the answers already on their way are discarded."""
        if self._pool is None:
            return
        self._ahead = max(self._ahead, position)
        while self._ahead < len(chosen) and len(self._futures) < self.concurrency:
            check = chosen[self._ahead]
            if check.kind == "property" or self._skip_reason(check, looking_ahead=True) is not None:
                self._ahead += 1
                continue
            if any((r.alone or r.batch or r.observe) and r.key not in self.cache for r in _recipes(check.recipes)):
                # sent when judged (alone, as a batch, or not at all), with nothing else submitted meanwhile
                if self._ahead == position:
                    self._ahead += 1
                return  # nothing past it is submitted before it is judged
            if not all(self._submit(recipe) for recipe in check.recipes):
                return  # what is left is sent when judged, in plan order, as it would be one at a time
            self._ahead += 1

    def _submit(self, recipe: Recipe) -> bool:
        """Send `recipe` ahead (after what it is built after), its request of the budget reserved now; False when
        it is left to be sent when judged. A request is sent ahead only while `--max-requests` also holds a request
        for an identical repeat (rule 10) of it and of every request sent ahead and not judged yet, and so does the
        run's retry budget (unless it is spent): a 5xx's repeat then always finds what it needs, whenever the 5xx
        comes, so the requests and repeats a budget cuts are the ones it cuts one at a time."""
        if recipe.key in self.cache or recipe.key in self._futures or self._pool is None:
            return True
        if not all(self._submit(prior) for prior in recipe.after):
            return False
        unjudged = len(self._futures) + 1  # this one included
        remaining, repeats = self.client.remaining, self.client.retries_left
        if remaining is not None and remaining < unjudged + 1:  # this request, and a repeat for each
            return False
        if repeats is not None and 0 < repeats < unjudged:  # none left: no 5xx is repeated, whenever it comes
            return False
        if not self.client.reserve():
            return False  # beyond the budget: judged in order, it is skipped there
        self._futures[recipe.key] = self._pool.submit(self._send_slotted, recipe)
        return True

    def _property_layer(self, layer: list[Check]) -> None:
        """The property layer's modes, run together; their results recorded in order. A signal during the layer
        ends it with what it found, then stops the run."""
        from conformance.driver.property import run_layer

        sending: list[Check] = []
        for check in layer:
            reason = self._skip_reason(check)
            if reason is None:
                sending.append(check)
            else:
                self._done += 1
                self._record(self._plain(check, Outcome.SKIPPED, f"not run: {reason}"))
        if not sending:
            return
        try:
            refused = self.refused(BASIC)
        except BudgetExhausted as exc:
            for check in sending:
                self._done += 1
                self._record(self._plain(check, Outcome.SKIPPED, f"not run: {exc}"))
            return
        parts, interrupted = run_layer(
            self.facts,
            self.client,
            sending,
            self.max_examples,
            refused,
            self.progress,
            self.concurrency,
            self.pregenerated,
        )
        for part in parts:
            self._done += 1
            duration = (part.stop_ms - part.start_ms) / 1000
            for result in _timed(part.results, duration, part.start_ms / 1000, part.stop_ms / 1000):
                self._record(result, planned=result.id == part.check.id)
        if interrupted:
            raise KeyboardInterrupt

    def requests_needed(self, checks: list[Check]) -> int:
        """Distinct requests the selected hand-written checks send (the preflight and 5xx repeats aside)."""
        chosen = [c for c in checks if selected(c.id, self.only, self.skip) and c.kind != "property"]
        return len({key for check in chosen for key in _keys(check.recipes)} - {PREFLIGHT.key})

    # -- one check ------------------------------------------------------------------------------------------

    def _results(self, check: Check) -> list[Result]:
        reason = self._skip_reason(check)
        if reason is not None:
            return [self._plain(check, Outcome.SKIPPED, f"not run: {reason}")]
        try:
            exchanges, inconclusive = self._exchanges(check)
            refused = self._refused(check, exchanges)
            return [evaluate(check, self.facts, exchanges, refused, inconclusive)]
        except BudgetExhausted as exc:  # the client notes that the budget cut the run
            return [self._plain(check, Outcome.SKIPPED, f"not run: {exc}")]
        except Exception as exc:  # a bug of ours must not take the run down: record it
            return [self._plain(check, Outcome.ERROR, f"the check itself failed: {type(exc).__name__}: {exc}")]

    def _skip_reason(self, check: Check, looking_ahead: bool = False) -> str | None:
        """Why `check` is skipped now, or None. Judging it (not `looking_ahead`), a budget that cuts it marks the
        run as cut by the budget."""
        reason = static_skip(check, self.facts)
        if reason is not None:
            return reason
        if not check.sends:
            return None
        if self.skip_all or self.stop_reason:
            return self.skip_all or self.stop_reason
        if check.limit_field in self.facts.ignored_limits:
            field = check.limit_field
            return f"the target ignores {field} (response.minimal.completion_limit): {field} alone would be unbounded"
        if check.long and not self.facts.limit_honoured:
            return "the target did not honour the completion limit (response.minimal.completion_limit)"
        if self.client.remaining == 0 and not all(k in self.cache or k in self._futures for k in _keys(check.recipes)):
            if not looking_ahead:
                self.client.budget_hit = True
            return f"--max-requests {self.client.max_requests} reached"
        return None

    def _exchanges(self, check: Check) -> tuple[tuple[Exchange, ...], str | None]:
        """The check's exchanges, sending what is not sent yet; and why a recipe could not be built, if so."""
        from conformance.driver.load import observed, send_batches

        out: list[Exchange] = []
        for recipe in check.recipes:
            try:
                if recipe.observe is not None:  # what the run met: none, one or several exchanges
                    out.extend(observed(self, recipe.observe))
                    continue
                if recipe.batch is not None:  # sent together with the check's other recipes of its batch
                    send_batches(self, check.recipes)
                out.append(self.send(recipe))
            except Inconclusive as why:
                return tuple(out), str(why)
        return tuple(out), None

    def send(self, recipe: Recipe) -> Exchange:
        """The exchange of `recipe`, sent at most once per run (checks judging the same exchange share it); one
        sent ahead is waited for."""
        if recipe.key not in self.cache:
            future = self._futures.get(recipe.key)
            self.cache[recipe.key] = future.result() if future is not None else self._send_now(recipe)
            self._futures.pop(recipe.key, None)  # after the cache holds it: a sender waiting on it finds it there
            if self.recorder is not None:
                self.recorder.add(recipe.key, self.cache[recipe.key])
        return self.cache[recipe.key]

    def _awaited(self, recipe: Recipe) -> Exchange:
        """From a sending thread: the exchange of a recipe another is built after (sent ahead of it)."""
        for _ in range(2):
            if recipe.key in self.cache:
                return self.cache[recipe.key]
            future = self._futures.get(recipe.key)
            if future is not None:
                return future.result()
        return self.send(recipe)

    def _send_slotted(self, recipe: Recipe) -> Exchange:
        """A recipe sent ahead, within the client's allowance of requests in flight (lowered after a 429)."""
        with self.client.slot():
            return self._send_now(recipe, reserved=True)

    def _send_now(self, recipe: Recipe, reserved: bool = False) -> Exchange:
        """Build `recipe` (after its prior exchanges) and send it; a server error is repeated once (rule 10)."""
        prior = tuple(self._awaited(r) for r in recipe.after)
        request = recipe.build(self.facts, prior)
        authorization: object = request.authorization
        if authorization == f"Bearer {RUN_KEY}":
            authorization = DEFAULT_AUTH
        elif isinstance(authorization, str):
            authorization = authorization.replace(RUN_KEY, self.client.api_key or "")
        exchange = self.client.chat(request.body, authorization=authorization, raw=request.raw, reserved=reserved)
        if not is_server_error(exchange):
            return exchange
        # rule 10: does an identical repeat agree? Sent while both budgets last; else the 5xx is not confirmed
        if self.client.remaining == 0:
            return exchange.without_repeat(f"--max-requests {self.client.max_requests} reached")
        if not self.client.take_retry():
            return exchange.without_repeat(self.client.retry_spent)
        repeat = self.client.chat(request.body, authorization=authorization, raw=request.raw)
        return exchange.with_repeat(repeat)

    def _refused(self, check: Check, exchanges: tuple[Exchange, ...]) -> frozenset[str]:
        """Capabilities of `check` whose basic use got a clean 4xx and that the target did not declare (rule 4).

        Only looked at (and the basic use only sent) when one of the check's own exchanges got a clean 4xx."""
        if not check.capabilities or not any(clean_4xx(e) for e in exchanges):
            return frozenset()
        return self.refused(check.capabilities)

    def refused(self, capabilities: Iterable[str]) -> frozenset[str]:
        """Of `capabilities`, those whose basic use got a clean 4xx and that the target did not declare (rule 4).
        Each basic use is sent at most once per run."""
        return frozenset(c for c in capabilities if c not in self.facts.declared and clean_4xx(self.send(BASIC[c])))

    # -- recording ---------------------------------------------------------------------------------------------

    def _plain(self, check: Check, outcome: Outcome, message: str) -> Result:
        try:
            return make_result(
                self.facts.contract, check.id, check.pointer, check.field, outcome, message, level=check.level
            )
        except Exception as exc:  # a broken clause must not take the run down: record it
            detail = f"{message} (and its clause could not be cited: {exc})"
            return Result(check.id, f"openapi.yaml{check.pointer}", "", check.field, "MUST", Outcome.ERROR, detail)

    def _record(self, result: Result, planned: bool = True) -> None:
        result = self.client.redactor.result(result)  # what leaves the process: the key redacted, text visible
        self.results.append(result)
        if result.outcome is Outcome.ERROR:
            self._errors_in_a_row += 1
            if self._errors_in_a_row >= MAX_CONSECUTIVE_ERRORS and self.stop_reason is None:
                self.stop_reason = f"stopped after {MAX_CONSECUTIVE_ERRORS} consecutive infrastructure errors"
        elif result.outcome is not Outcome.SKIPPED:
            self._errors_in_a_row = 0
        if self.progress:
            width = len(str(self._planned))
            counter = f"[{self._done:>{width}}/{self._planned}]" if planned else " " * (2 * width + 3)
            shown = result.outcome.value
            if result.outcome is Outcome.FAILED and self.known is not None and self.known(result.id):
                shown = Outcome.XFAILED.value  # as the reports will show it, after the baseline
            line = f"{counter} {shown:<11} {result.id}"  # findings: no number of their own
            if shown in ("failed", "error"):
                line += f"\n{'':>{2 * width + 16}}{result.message.splitlines()[0][:300]}"
            print(line, flush=True)  # results on stdout; diagnostics on stderr


def _timed(results: Iterable[Result], duration_s: float, started: float, stopped: float) -> list[Result]:
    """Results with the times of the check that made them (seconds since the epoch; the duration on the first)."""
    return [
        dataclasses.replace(
            result,
            duration_s=duration_s if i == 0 else 0.0,
            start_ms=int(started * 1000),
            stop_ms=int(stopped * 1000),
        )
        for i, result in enumerate(results)
    ]
