"""Client state split over ranks: each client's state lives on the rank that owns it
(`client % world`), which is also the rank that runs the client, so state never moves
between rounds; `state_dict` gathers every rank's share for a checkpoint."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from fedhive.client.state import ClientState, ClientStateStore


def owner(client: int, world: int) -> int:
    """The rank that keeps (and runs) `client` when the algorithm has client state."""
    return int(client) % world


class ShardedStateStore(ClientStateStore):
    """A ClientStateStore that keeps only this rank's clients. `gather` gives other ranks'
    clients their initial state (this rank never runs them) and `scatter` drops their rows."""

    def __init__(self, init_state: Callable[[torch.Tensor], ClientState], params: torch.Tensor, group):
        super().__init__(init_state, params)
        self.group = group

    def owns(self, client: int) -> bool:
        return owner(client, self.group.world) == self.group.rank

    def scatter(self, client_ids: Sequence[int], stacked: dict[str, torch.Tensor]) -> None:
        mine = [i for i, c in enumerate(client_ids) if self.owns(c)]
        super().scatter([client_ids[i] for i in mine], {k: v[mine] for k, v in stacked.items()})

    def state_dict(self) -> dict[int, ClientState]:
        """Every client's state, from all ranks (a collective: call it on every rank)."""
        shares = self.group.all_gather_object(-1, {c: {k: v.cpu() for k, v in s.items()} for c, s in self.states.items()})
        merged: dict[int, ClientState] = {}
        for share in shares:
            merged.update(share)
        return dict(sorted(merged.items()))

    def load_state_dict(self, states: dict[int, ClientState]) -> None:
        """Keep this rank's share of a full state dict (saved with any number of ranks)."""
        super().load_state_dict({c: s for c, s in states.items() if self.owns(int(c))})
