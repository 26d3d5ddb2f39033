"""Per-client state kept between rounds (SCAFFOLD control variates, error-feedback
residuals), stored sparsely: only clients that have taken part hold memory."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

ClientState = dict[str, torch.Tensor]
# A per-round input: the local epochs this client runs this round (at most the configured E;
# a FedProx-paper straggler runs fewer). Absent means E.
EPOCHS_INPUT = "epochs"
# A per-round input: the client learning rate of this round, `[K]`, when `client.lr_schedule`
# sets one (fedhive/config/lr_schedule.py). Absent means `client.lr`. An input, not a rebuilt
# update, so every engine (and a compiled or vmapped one) runs the same code each round.
LR_INPUT = "lr"


def no_state(params: torch.Tensor) -> ClientState:
    """The initial state of a stateless client update."""
    return {}


class ClientStateStore:
    """Maps client id -> state; a client never seen has `init_state(params)`."""

    def __init__(self, init_state: Callable[[torch.Tensor], ClientState], params: torch.Tensor):
        self._initial = init_state(params)
        self.states: dict[int, ClientState] = {}

    def gather(self, client_ids: Sequence[int]) -> dict[str, torch.Tensor]:
        """The cohort's states stacked: `{name: [K, ...]}` in client order."""
        if not self._initial:
            return {}
        rows = [self.states.get(int(c), self._initial) for c in client_ids]
        return {k: torch.stack([r[k] for r in rows]) for k in self._initial}

    def scatter(self, client_ids: Sequence[int], stacked: dict[str, torch.Tensor]) -> None:
        """Store the cohort's new states (the inverse of gather). Only the names of the
        initial state are kept; other returned names are per-round outputs for the server
        (e.g. SCAFFOLD's `delta_c`)."""
        if not self._initial:
            return
        for i, c in enumerate(client_ids):
            self.states[int(c)] = {k: stacked[k][i].clone() for k in self._initial}

    def state_dict(self) -> dict[int, ClientState]:
        return self.states

    def load_state_dict(self, states: dict[int, ClientState]) -> None:
        self.states = {int(c): dict(s) for c, s in states.items()}
