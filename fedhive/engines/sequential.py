"""The reference engine: one client at a time, in client order. It is the debugger: with
`engine.fail_fast` a failing client update is re-raised naming the round and the client;
otherwise the failure is dropped and counted, and the round goes on."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from fedhive import rng
from fedhive.client.state import ClientStateStore
from fedhive.client.update import ClientResult, ClientUpdate
from fedhive.config import EngineConfig
from fedhive.engines.base import ClientError, CohortResult, warn_failures
from fedhive.reduction import LinearAggregate


class SequentialEngine:
    def __init__(self, config: EngineConfig):
        self.config = config

    rank = 0  # the only process: it writes the run folder

    def state_store(self, init_state, params: torch.Tensor) -> ClientStateStore:
        """Client state lives in this process."""
        return ClientStateStore(init_state, params)

    def run(
        self,
        update: ClientUpdate,
        params: torch.Tensor,
        dataset,
        round: int,
        client_ids: Sequence[int],
        states: dict[str, torch.Tensor] | None = None,
        inputs: dict[str, torch.Tensor] | None = None,
        linear: LinearAggregate | None = None,
    ) -> CohortResult:
        """Run `update` for each client in order; `states` are the cohort's stacked states
        and `inputs` its per-round inputs from the server, `{name: [K, ...]}` each.
        Returns the `[K, P]` rows even when the aggregate is `linear`: this engine is the
        reference that others are checked against."""
        results: list[ClientResult | None] = []
        failures: list[str] = []
        for i, cid in enumerate(client_ids):
            data = dataset.cohort_batches(round, [cid]).to(params.device)
            data = type(data)(*(t[0] for t in data))
            state = {k: v[i] for k, v in (states or {}).items()}
            given = {k: v[i] for k, v in (inputs or {}).items()}
            key = torch.tensor(rng.client_key(round, int(cid)))
            try:
                results.append(update(params, data, state, given, key))
            except Exception as e:
                if self.config.fail_fast:
                    raise ClientError(f"round {round + 1}, client {cid}: client update failed: {e}") from e
                failures.append(f"client {cid}: {type(e).__name__}: {e}")
                results.append(None)
        warn_failures(round, failures, len(client_ids))
        return stack_results(results, params, states)


def stack_results(results: list[ClientResult | None], params: torch.Tensor,
                  states: dict[str, torch.Tensor] | None = None) -> CohortResult:
    """Stack per-client ClientResults into one CohortResult, preserving client order.

    A failed client (None) gets a NaN update, weight 0, its input state, and NaN outputs
    and metrics, so the aggregates drop and count it like any other non-finite update."""
    ok = next((r for r in results if r is not None), None)
    states = states or {}
    if ok is None:
        k = len(results)
        return CohortResult(params.new_full((k, params.numel()), float("nan")), params.new_zeros(k), {},
                            dict(states), {})

    def failed(i: int) -> ClientResult:
        nan = lambda d: {k: torch.full_like(v, float("nan")) for k, v in d.items()}  # noqa: E731
        return ClientResult(params.new_full((params.numel(),), float("nan")), params.new_zeros(()),
                            {k: v[i] for k, v in states.items()}, nan(ok.outputs), nan(ok.metrics))

    rows = [r if r is not None else failed(i) for i, r in enumerate(results)]
    updates = torch.stack([r.update for r in rows])
    weights = torch.stack([r.weight.to(params.dtype) for r in rows])
    metrics = {k: torch.stack([r.metrics[k] for r in rows]) for k in ok.metrics}
    stack = lambda name: {k: torch.stack([getattr(r, name)[k] for r in rows]) for k in getattr(ok, name)}  # noqa: E731
    return CohortResult(updates, weights, metrics, stack("state"), stack("outputs"))
