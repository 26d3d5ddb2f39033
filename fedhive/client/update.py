"""Client updates as pure `torch.func` functions, run unchanged by every engine.

A client update maps `(global_params [P], batches, state, inputs, key) -> ClientResult`. Its
`update` is a pseudo-gradient: the server treats it like a gradient and steps against
it, so FedSGD returns the summed batch gradients and FedAvg returns `params - local`.
Nothing here loops over samples, branches on tensor values or knows which engine calls
it, so `vmap` over a cohort gives each client exactly its own result.
Engines pass `key = rng.client_key(round, client)` (an int64 tensor); an update that
draws randomness uses `rng.keyed_uniform` / `rng.keyed_normal` on it, which are tensor
ops and so give the same draws under `vmap`.

An update may be a `FusedUpdate`: one with a `cohort_sum` (a `CohortSum`), giving
`sum_k coef(w)_k update_k` for a whole packed cohort at once, with its weights and
per-client metrics. The gradient update is one (a weighted sum of gradients is the
gradient of the weighted sum of losses, so the cohort goes through one
forward/backward); wrappers that change the update must not copy it.

The local-training algorithms (fedhive/algorithms/) share one loop, `local_trainer`: a
variant adds only what differs (a gradient correction, a normalization, client state).
"""

from __future__ import annotations

from typing import Callable, Iterator, NamedTuple, Protocol, cast, runtime_checkable

import torch

from fedhive.client.state import EPOCHS_INPUT, LR_INPUT, ClientState
from fedhive.data.batches import Batches, Steps
from fedhive.models.autodiff import grad
from fedhive.models.functional import FunctionalModel

RoundInputs = dict[str, torch.Tensor]
RoundOutputs = dict[str, torch.Tensor]


class ClientResult(NamedTuple):
    """What one client sends back: `update` [P], `weight` (its sample count), its new
    persistent `state` (the names of its initial state, kept by the client-state store),
    its per-round `outputs` for the server (SCAFFOLD's `delta_c`, FedNova's step count:
    read by the server half, never stored), and scalar metrics such as its training loss."""

    update: torch.Tensor
    weight: torch.Tensor
    state: ClientState
    outputs: RoundOutputs
    metrics: dict[str, torch.Tensor]


# `(global params [P], batches, persistent state, per-round inputs from the server, key)`.
ClientUpdate = Callable[[torch.Tensor, Batches, ClientState, RoundInputs, torch.Tensor], ClientResult]
# Extra gradient term at the local model y, given the global model x: `(y, x) -> [P]`.
Correction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@runtime_checkable
class FusedUpdate(Protocol):
    """A client update that also offers the whole cohort's weighted sum in one pass
    (`cohort_sum`), which the vectorized engine uses under a linear aggregate."""

    cohort_sum: CohortSum

    def __call__(self, params: torch.Tensor, data: Batches, state: ClientState, inputs: RoundInputs,
                 key: torch.Tensor) -> ClientResult: ...


def _sample_weighted_loss(per_step: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean loss per real sample from per-step means: `[S]` -> scalar, or `[K, S]` -> `[K]`."""
    n = mask.sum(-1)
    return (per_step * n).sum(-1) / n.sum(-1).clamp_min(1.0)


def gradient_update(model: FunctionalModel) -> ClientUpdate:
    """FedSGD: the sum over the client's batches of each batch's mean-loss gradient,
    taken at the global parameters, with no local step."""

    def total_loss(params: torch.Tensor, data: Batches) -> tuple[torch.Tensor, torch.Tensor]:
        per_step = model.masked_loss(params, data.x, data.y, data.mask)
        # Summing per-batch mean losses makes one backward give the sum of batch gradients.
        return per_step.sum(), per_step

    grad_fn = grad(total_loss, has_aux=True)

    def update(params: torch.Tensor, data: Batches, state: ClientState, inputs: RoundInputs,
               key: torch.Tensor) -> ClientResult:
        g, per_step = grad_fn(params, data)
        loss = _sample_weighted_loss(per_step, data.mask)
        return ClientResult(g, data.sizes, state, {}, {"loss": loss})

    fused = cast(FusedUpdate, update)  # the function object takes the protocol's attribute here
    fused.cohort_sum = CohortSum(model)
    return fused


class CohortSum:
    """The fused path of `gradient_update`: `(params, cohort_steps, coef) -> (total,
    weights, metrics)` with `total = sum_k coef(w)_k g_k` for a whole cohort packed as
    `Steps` (no padding steps), in one forward/backward. Exact: a weighted sum of
    gradients is the gradient of the weighted sum of losses. `loss` is the forward pass,
    the part worth compiling."""

    def __init__(self, model: FunctionalModel, loss: Callable | None = None) -> None:
        self.model = model
        self.loss = loss or self.weighted_loss

    def weighted_loss(self, params, x, y, mask, step_coef):
        """`(sum_s c_s loss_s, per-step losses)` over steps x `[N, B, ...]`."""
        per_step = self.model.masked_loss(params, x, y, mask)
        return (per_step * step_coef).sum(), per_step.detach()

    def compiled(self, compile: Callable[[Callable], Callable]) -> "CohortSum":
        """The same sum with its forward (hence its backward) compiled by `compile`."""
        return CohortSum(self.model, compile(self.weighted_loss))

    def __call__(self, params: torch.Tensor, data: Steps,
                 coef: Callable[[torch.Tensor], torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        owner, samples = data.owner(), data.step_samples().to(params.dtype)
        weights = params.new_zeros(len(data.steps)).index_add_(0, owner, samples)
        step_coef = coef(weights).to(params.dtype)[owner]
        # Plain autograd rather than torch.func: nothing per client is needed here, and
        # it is the cheapest path both eagerly and through torch.compile.
        leaf = params.detach().requires_grad_(True)
        objective, per_step = self.loss(leaf, data.x, data.y, data.mask, step_coef)
        (total,) = torch.autograd.grad(objective, leaf)
        loss = torch.zeros_like(weights).index_add_(0, owner, per_step * samples) / weights.clamp_min(1.0)
        return total, weights, {"loss": loss}


class LocalRun(NamedTuple):
    """The outcome of local training: the local model y, the sample-weighted mean loss
    over the steps taken, and the number of real steps taken (tau_i, a 0-d tensor)."""

    local: torch.Tensor
    loss: torch.Tensor
    steps: torch.Tensor


def _no_correction(local: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(local)


def batch_order(data: Batches, epochs: int, steps: int | None) -> list[tuple[int, torch.Tensor | int]]:
    """(pass, batch index) of each step a local loop takes: `epochs` passes in order, or
    exactly `steps` steps (one pass) cycling through the client's real batches."""
    if steps is None:
        return [(p, s) for p in range(epochs) for s in range(data.mask.shape[0])]
    real = (data.mask.amax(-1) > 0).sum().clamp_min(1)  # this client's real batches
    return [(0, torch.remainder(torch.tensor(s), real)) for s in range(steps)]


def local_batches(data: Batches, epochs: int, steps: int | None,
                  inputs: RoundInputs) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(x, y, mask) of each step of a local loop (`batch_order`), the passes beyond the
    client's own number (`EPOCHS_INPUT`, a straggler's e < E) masked out: a tensor gate,
    not a branch, so vmap runs it per client."""
    passes = inputs.get(EPOCHS_INPUT)
    for p, s in batch_order(data, epochs, steps):
        x, y, mask = data.x[s], data.y[s], data.mask[s]
        if passes is not None and p > 0:
            mask = mask * (passes > p).to(mask.dtype)
        yield x, y, mask


# `(params, x, y, mask) -> (gradient, (loss [1], running statistics))` of one batch.
StepGradient = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
                        tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]]


def step_gradient(model: FunctionalModel) -> StepGradient:
    """`(params, x, y, mask) -> (gradient, (loss [1], running statistics))` of one batch's
    mean loss in train mode; the statistics go back in with `model.with_stats` (the
    gradient is 0 on their coordinates)."""

    def step_loss(params: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                  mask: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        per_step, stats = model.train_losses(params, x.unsqueeze(0), y.unsqueeze(0), mask.unsqueeze(0))
        return per_step.sum(), (per_step.detach(), stats)

    return grad(step_loss, has_aux=True)


class LocalTrainer(Protocol):
    """`train(params, data, correction=None, inputs=None, trainable=None) -> LocalRun`,
    what `local_trainer` returns."""

    def __call__(self, params: torch.Tensor, data: Batches, correction: Correction | None = None,
                 inputs: RoundInputs | None = None, trainable: torch.Tensor | None = None) -> LocalRun: ...


def local_trainer(model: FunctionalModel, lr: float, epochs: int = 1, steps: int | None = None,
                  momentum: float = 0.0, weight_decay: float = 0.0) -> LocalTrainer:
    """The local SGD loop shared by every local-training algorithm.

    Runs `epochs` passes over the client's batches in order, or, when `steps` is set,
    exactly `steps` steps cycling through its real batches. `train` reads the round's
    `inputs`: a client's own number of passes (`EPOCHS_INPUT`, a 0-d tensor, at most
    `epochs`: later passes are masked out) and a scheduled lr (`LR_INPUT`). Each step is
    `buf <- momentum buf + g + weight_decay y + correction(y, x)`, `y <- y - lr buf`.
    Padding steps (no real samples) are gated out with a 0/1 factor rather than skipped,
    so the loop has the same shape for every client and `vmap` runs it unchanged.

    Returns `train(params, data, correction=None, inputs=None, trainable=None) -> LocalRun`;
    a 0/1 `trainable` `[P]` freezes the coordinates where it is 0 (FedRep's head/body phases).
    """

    grad_fn = step_gradient(model)

    def train(params: torch.Tensor, data: Batches, correction: Correction | None = None,
              inputs: RoundInputs | None = None, trainable: torch.Tensor | None = None) -> LocalRun:
        inputs = inputs or {}
        eta = round_lr(inputs, lr)
        # Plain SGD needs no gate: a padding step's gradient is exactly zero.
        plain = correction is None and momentum == 0 and weight_decay == 0
        keep = 1.0 if trainable is None else trainable
        correction = correction or _no_correction
        local, buf = params, torch.zeros_like(params)
        losses, samples = [], []
        for x, y, mask in local_batches(data, epochs, steps, inputs):
            g, (loss, stats) = grad_fn(local, x, y, mask)
            active = mask.amax()  # 1.0 for a real batch, 0.0 for padding
            if plain:
                step = local - eta * (g * keep)
            else:
                g = (g + weight_decay * local + correction(local, params)) * keep
                buf = active * (momentum * buf + g) + (1 - active) * buf
                step = local - (eta * active) * buf
            # Running statistics are not stepped: they become the batch's (frozen ones stay).
            local = model.with_stats(step, stats, active if trainable is None else active * model.stats_of(trainable))
            losses.append(loss)
            samples.append(mask.sum().reshape(1))
        n = torch.cat(samples)
        loss = (torch.cat(losses) * n).sum() / n.sum().clamp_min(1.0)
        taken = (n > 0).sum().to(params.dtype)
        return LocalRun(local, loss, taken)

    return train


def round_lr(inputs: RoundInputs, lr: float) -> torch.Tensor | float:
    """This round's client lr: the scheduled one among `inputs`, else the constant `lr`."""
    return inputs.get(LR_INPUT, lr)


def lr_only(inputs: RoundInputs) -> RoundInputs:
    """The round's scheduled lr alone, for a training that runs every pass whatever the
    client's straggler budget (FedRep's head: its own `head_epochs`)."""
    return {k: v for k, v in inputs.items() if k == LR_INPUT}


def local_update(train: LocalTrainer, correction: Correction | None = None) -> ClientUpdate:
    """The client update of a local-training algorithm: run `train` (a `local_trainer`)
    with `correction`, return `params - local` weighted by the client's sample count.
    A variant that needs more (state, outputs) writes its own around `train`."""

    def update(params: torch.Tensor, data: Batches, state: ClientState, inputs: RoundInputs,
               key: torch.Tensor) -> ClientResult:
        run = train(params, data, correction, inputs)
        return ClientResult(params - run.local, data.sizes, state, {}, {"loss": run.loss})

    return update


def local_sgd_update(model: FunctionalModel, lr: float, epochs: int = 1, steps: int | None = None,
                     momentum: float = 0.0, weight_decay: float = 0.0) -> ClientUpdate:
    """FedAvg's local training (see `local_trainer`); returns `params - local_params`."""
    return local_update(local_trainer(model, lr, epochs, steps, momentum, weight_decay))
