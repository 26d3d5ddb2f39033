"""What one algorithm module declares: `Algorithm`, its `Setup`, and what it builds.

An algorithm module (fedhive/algorithms/fedprox.py, or a user's own) defines its
hyperparameters as a `Hyperparameters` model (the config's `algorithm.*` fields), its
client update, optionally its server half, initial client state and per-round inputs,
and exposes them as one module-level `ALGORITHM = Algorithm(...)` (a family exposes
`ALGORITHMS = (...)`); the package finds it by name. Each builder receives the `Setup`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Generic, NamedTuple, TypeVar

import torch
from pydantic import BaseModel, ConfigDict

from fedhive.client.state import ClientState, no_state
from fedhive.client.update import ClientUpdate, LocalTrainer, local_trainer
from fedhive.server.chain import Transform

if TYPE_CHECKING:
    from fedhive.config import Config
    from fedhive.models.functional import FunctionalModel

# `(round, client ids [K], params, server state) -> {name: [K, ...]}`: what the server
# broadcasts to each client of a cohort besides the model (SCAFFOLD's c).
RoundInputsFn = Callable[[int, Sequence[int], torch.Tensor, Any], dict[str, torch.Tensor]]
# `(global params [P], server state, one client's state) -> that client's personal model
# [P]`: what personalized evaluation scores on the client's own test split (Ditto's v_k,
# IFCA's cluster model from the server state).
PersonalModel = Callable[[torch.Tensor, Any, ClientState], torch.Tensor]


class Hyperparameters(BaseModel):
    """Base of an algorithm's hyperparameter model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


HP = TypeVar("HP", bound=Hyperparameters)


class Setup(NamedTuple, Generic[HP]):
    """What an algorithm's builders receive: its validated hyperparameters `hp` (an
    instance of the algorithm's own model: a builder takes `Setup[FedProx]`), the
    model, and the whole experiment config (`config.client`: the shared local trainer's
    settings; `config.data.clients`: N)."""

    hp: HP
    model: FunctionalModel
    config: Config

    def trainer(self) -> LocalTrainer:
        """The shared local SGD loop with the config's `client` settings."""
        c = self.config.client
        return local_trainer(self.model, c.lr, c.epochs, c.steps, c.momentum, c.weight_decay)


def _same_chain(setup: Setup, chain: Transform) -> Transform:
    return chain


@dataclass(frozen=True)
class Algorithm:
    """One federated algorithm.

    Attributes:
        name: what `algorithm.name` selects it by.
        client_update: `setup -> ClientUpdate`, the client half.
        hyperparameters: the model of its `algorithm.*` fields.
        server: `(setup, configured chain) -> Transform`, the server half around the
            chain the config's `server` section builds (default: that chain).
        client_state: `(setup, params) -> ClientState`, the initial persistent state of
            every client (None: stateless).
        round_inputs: `setup -> RoundInputsFn`, what the server broadcasts each round.
        defaults: config sections filled under the user's own (`server`, `client`).
        local_training: whether it runs the shared local trainer, so reads `client.*` and
            processes epochs x samples (else one pass: a gradient at the global model).
        steps_only: its client update reads only the batches its `client.steps` local
            steps take, so with client.steps set a client's draw holds just those (the
            weight `data.sizes` stays its whole n_k); False when it reads more of the
            client's data (FedRep's head passes, IFCA's cluster losses, q-FFL's F_k).
        personal: `setup -> PersonalModel` for an algorithm whose clients keep a personal
            model in their state; evaluation then adds `personal_accuracy_*`.
        sync_only: why it cannot run in mode async (None: it can).
    """

    # Each builder takes the Setup of this algorithm's own `hyperparameters` model
    # (Setup[FedProx]); algorithms differ in that model, so the fields take a Setup of any.
    name: str
    client_update: Callable[[Setup[Any]], ClientUpdate]
    hyperparameters: type[Hyperparameters] = Hyperparameters
    server: Callable[[Setup[Any], Transform], Transform] = _same_chain
    client_state: Callable[[Setup[Any], torch.Tensor], ClientState] | None = None
    round_inputs: Callable[[Setup[Any]], RoundInputsFn] | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    local_training: bool = True
    steps_only: bool = False
    personal: Callable[[Setup[Any]], PersonalModel] | None = None
    sync_only: str | None = None


def no_inputs(round: int, ids: Sequence[int], params: torch.Tensor, server_state: Any) -> dict[str, torch.Tensor]:
    """Per-round client inputs of an algorithm that broadcasts nothing but the model."""
    return {}


class FederatedAlgorithm(NamedTuple):
    """A built algorithm, what an experiment runs: the client update, the whole server
    chain, the initial per-client state (`{}`: stateless), the per-round inputs, the
    personal model of a client (None: only the global model is evaluated) and the
    batches a client's round draw must hold (`steps`: client.steps for a `steps_only`
    algorithm; None: its whole epoch)."""

    client_update: ClientUpdate
    server: Transform
    client_init: Callable[[torch.Tensor], ClientState] = no_state
    round_inputs: RoundInputsFn = no_inputs
    personal: PersonalModel | None = None
    steps: int | None = None
