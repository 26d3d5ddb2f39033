"""The reference engine: one client at a time, in client order. It is the debugger: a
failing client update is re-raised naming the round and the client."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from fedhive.client.update import ClientUpdate
from fedhive.config import EngineConfig
from fedhive.engines.base import ClientError, CohortResult
from fedhive.server.chain import LinearAggregate


class SequentialEngine:
    def __init__(self, config: EngineConfig):
        self.config = config

    def run(
        self,
        update: ClientUpdate,
        params: torch.Tensor,
        dataset,
        round: int,
        client_ids: Sequence[int],
        states: dict[str, torch.Tensor] | None = None,
        linear: LinearAggregate | None = None,
    ) -> CohortResult:
        """Run `update` for each client in order; `states` are the cohort's stacked states.
        Returns the `[K, P]` rows even when the aggregate is `linear`: this engine is the
        reference that others are checked against."""
        results = []
        for i, cid in enumerate(client_ids):
            data = dataset.cohort_batches(round, [cid]).to(params.device)
            data = type(data)(*(t[0] for t in data))
            state = {k: v[i] for k, v in (states or {}).items()}
            key = torch.tensor(int(cid))
            try:
                results.append(update(params, data, state, key))
            except Exception as e:
                raise ClientError(f"round {round}, client {cid}: client update failed: {e}") from e
        return stack_results(results, params)


def stack_results(results: list, params: torch.Tensor) -> CohortResult:
    """Stack per-client ClientResults into one CohortResult, preserving client order."""
    if not results:
        return CohortResult(params.new_zeros(0, params.numel()), params.new_zeros(0), {}, {})
    updates = torch.stack([r.update for r in results])
    weights = torch.stack([r.weight for r in results]).to(params.dtype)
    metrics = {k: torch.stack([r.metrics[k] for r in results]) for k in results[0].metrics}
    states = {k: torch.stack([r.state[k] for r in results]) for k in results[0].state}
    return CohortResult(updates, weights, metrics, states)
