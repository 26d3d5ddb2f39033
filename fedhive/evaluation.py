"""The global test set a round is scored on (all of it, or a fixed keyed subsample), and
per-client evaluation on clients' own test splits: mean, 10th percentile and worst
client accuracy of the global model, optionally after k local fine-tuning steps
(`personalized_accuracy_*`), and of each client's own model for algorithms that keep one
(`personal_accuracy_*`: Ditto, FedRep, APFL, ...); optionally the global model on every
client's training data (loss, gradient dissimilarity)."""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch.func import vmap

from fedhive import rng
from fedhive.client.state import ClientState
from fedhive.client.update import step_gradient
from fedhive.config import EvalConfig
from fedhive.data.batches import Batches
from fedhive.data.federated import Packed, pad_clients
from fedhive.data.leading import leading_steps
from fedhive.errors import UserError
from fedhive.models.autodiff import grad
from fedhive.models.functional import FunctionalModel

CLIENT_CHUNK = 64  # clients fine-tuned at once under vmap
EVAL_SAMPLES = 1024  # test samples through the model at once, however many clients they belong to


def global_test(test: tuple[torch.Tensor, torch.Tensor], max_samples: int | None,
                seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The test set `(x, y)`, or `max_samples` of its rows (`evaluation.max_samples`) in
    stored order, chosen by the key (seed, "eval-subsample"): the same rows every round
    and on every engine, so the curve follows the model, not the draw."""
    x, y = test
    if max_samples is None or max_samples >= len(y):
        return test
    g = rng.generator(seed, purpose="eval-subsample")
    rows = torch.randperm(len(y), generator=g)[:max_samples].sort().values
    return x[rows], y[rows]


def client_accuracies(model: FunctionalModel, params: torch.Tensor, split: Packed,
                      budget: int = EVAL_SAMPLES) -> torch.Tensor:
    """Each client's accuracy on its own test samples, `[C]` (NaN where it has none): the
    packed test rows `budget` at a time, each chunk's hits summed into its owners (a
    segment sum), so memory is one chunk's activations whatever the clients' sizes."""
    hits = torch.zeros(len(split.offsets) - 1, device=params.device)
    owners = split.owners()
    for start in range(0, len(split.y), budget):
        rows = slice(start, start + budget)
        _, correct = model.per_sample_eval(params, split.x[rows].to(params.device), split.y[rows].to(params.device),
                                           chunk=budget)
        hits.index_add_(0, owners[rows].to(params.device), correct.float())
    return hits / split.sizes.to(params.device)


def budget_groups(sizes: torch.Tensor, ids: torch.Tensor, budget: int = EVAL_SAMPLES,
                  most: int = CLIENT_CHUNK) -> list[torch.Tensor]:
    """`ids` in groups of at most `most` clients whose test splits, padded to the group's
    largest, hold at most `budget` samples: taken by size, so a group pads little, and a
    client over the budget alone (its rows then go through the model `budget` at a time)."""
    order = ids[torch.argsort(sizes[ids], stable=True)].tolist()
    groups: list[torch.Tensor] = []
    group: list[int] = []
    for c in order:  # ascending sizes: the newest member is the group's largest
        if group and (len(group) == most or (len(group) + 1) * int(sizes[c]) > budget):
            groups.append(torch.tensor(group, dtype=torch.long))
            group = []
        group.append(c)
    return groups + [torch.tensor(group, dtype=torch.long)] if group else groups


def summarize(acc: torch.Tensor, prefix: str) -> dict[str, float]:
    """Mean, 10th percentile and minimum over clients that have test samples."""
    acc = acc[~acc.isnan()].double()
    if len(acc) == 0:
        return {}
    return {f"{prefix}_mean": acc.mean().item(), f"{prefix}_p10": torch.quantile(acc, 0.1).item(),
            f"{prefix}_min": acc.min().item()}


def cycle_steps(batches: Batches, steps: int) -> Batches:
    """Each client's first `steps` batches, wrapping around its own real batches, so a
    client with fewer batches than `steps` repeats them: `[K, steps, B, ...]`."""
    own = batches.mask.amax(-1).sum(-1).long().clamp_min(1)  # [K] real steps
    idx = torch.arange(steps)[None, :] % own[:, None]  # [K, steps]
    rows = torch.arange(len(own))[:, None]
    return Batches(batches.x[rows, idx], batches.y[rows, idx], batches.mask[rows, idx])


def test_hits(model: FunctionalModel, params: torch.Tensor, test: Batches,
              rows: int = EVAL_SAMPLES) -> tuple[torch.Tensor, torch.Tensor]:
    """(correct predictions, samples) of one client's padded test split `[1, M, ...]`,
    `rows` samples through the model at a time."""
    hits = test.mask.new_zeros(())
    for x, y, mask in zip(test.x[0].split(rows), test.y[0].split(rows), test.mask[0].split(rows)):
        hits = hits + (model.loss.correct(model.apply(params, x), y) * mask).sum()
    return hits, test.mask[0].sum()


def finetune_fn(model: FunctionalModel, steps: int, lr: float, budget: int = EVAL_SAMPLES):
    """One client: `steps` SGD steps from `params` in train mode, as local training takes
    them (batch norm's running statistics follow the batches), then (hits, count) on its
    test data."""
    step_grad = step_gradient(model)

    def run(params: torch.Tensor, train: Batches, test: Batches) -> tuple[torch.Tensor, torch.Tensor]:
        for s in range(steps):
            gradient, (_, stats) = step_grad(params, train.x[s], train.y[s], train.mask[s])
            real = (train.mask[s].sum() > 0).to(params.dtype)  # a client without data keeps its statistics
            params = model.with_stats(params - lr * gradient, stats, real)
        return test_hits(model, params, test, budget)

    return run


def personalized_accuracies(model: FunctionalModel, params: torch.Tensor, dataset: Any, round: int,
                            steps: int, lr: float, budget: int = EVAL_SAMPLES) -> torch.Tensor:
    """Each client's test accuracy after `steps` local SGD steps on its round-`round`
    training batches, `[C]`; clients run in `budget_groups` under vmap. Only the batches
    those steps take are drawn (`leading_steps`)."""
    split: Packed = dataset.client_test_split()
    draw = leading_steps(dataset, steps)
    run = vmap(finetune_fn(model, steps, lr, budget), in_dims=(None, 0, 0))
    acc = torch.full((dataset.num_clients,), torch.nan, device=params.device)
    for ids in budget_groups(split.sizes, torch.arange(dataset.num_clients), budget):
        train = cycle_steps(draw.cohort_batches(round, ids.tolist()), steps).to(params.device)
        _store(acc, ids, *run(params, train, pad_clients(split, ids).to(params.device)))
    return acc


def personal_accuracies(model: FunctionalModel, personal: Callable[..., torch.Tensor], params: torch.Tensor,
                        server_state: Any, states: dict[int, ClientState], split: Packed,
                        budget: int = EVAL_SAMPLES) -> torch.Tensor:
    """Each client's accuracy with its personal model `personal(params, server_state, state)` on its own
    test split, `[C]`; NaN for a client that holds no state yet (it has not trained, so
    it has no personal model) or has no test samples. Clients run in `budget_groups`."""
    acc = torch.full((len(split.offsets) - 1,), torch.nan, device=params.device)
    run = vmap(lambda state, test: test_hits(model, personal(params, server_state, state), test, budget))
    for chunk in budget_groups(split.sizes, torch.tensor(sorted(states), dtype=torch.long), budget):
        stacked = {k: torch.stack([states[int(c)][k] for c in chunk]).to(params.device) for k in states[int(chunk[0])]}
        _store(acc, chunk, *run(stacked, pad_clients(split, chunk).to(params.device)))
    return acc


def train_metrics(model: FunctionalModel, params: torch.Tensor, train: Packed,
                  budget: int = EVAL_SAMPLES) -> dict[str, float]:
    """The global model on every client's training data, as FedProx reports it: the
    sample-weighted training loss (`global_train_loss`) and the gradient dissimilarity
    `(1/K) sum_k ||grad F_k - grad f||^2` (`grad_dissimilarity`), F_k client k's mean loss and
    grad f = sum_k n_k grad F_k / n over the K clients with data (litian96/FedProx,
    flearn/trainers/fedprox.py). Clients go in `budget_groups`, a group's padded rows
    `budget` samples at a time, so memory stays bounded whatever the clients' sizes."""

    def summed(p: torch.Tensor, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor):
        total = (model.sample_losses(p, x, y) * mask).sum()
        return total, total.detach()

    per_client = vmap(grad(summed, has_aux=True), in_dims=(None, 0, 0, 0))
    sizes = train.sizes
    grads = params.new_zeros(len(sizes), params.numel())
    losses = params.new_zeros(len(sizes))
    for ids in budget_groups(sizes, torch.arange(len(sizes)), budget):
        b = pad_clients(train, ids).to(params.device)
        cols = max(1, budget // len(ids))
        for lo in range(0, b.x.shape[2], cols):
            part = slice(lo, lo + cols)
            g, loss = per_client(params, b.x[:, :, part], b.y[:, :, part], b.mask[:, :, part].to(params.dtype))
            grads[ids] += g
            losses[ids] += loss
    n = sizes.to(params.device, params.dtype)
    held = n > 0
    client_grads = grads[held] / n[held, None]
    global_grad = grads.sum(0) / n.sum()
    return {"global_train_loss": float(losses.sum() / n.sum()),
            "grad_dissimilarity": float(((client_grads - global_grad) ** 2).sum(1).mean())}


def _store(acc: torch.Tensor, ids: torch.Tensor, hits: torch.Tensor, count: torch.Tensor) -> None:
    """Write clients' accuracies into `acc` at `ids` (NaN for a client without test samples)."""
    acc[ids.to(acc.device)] = torch.where(count > 0, hits / count.clamp_min(1), torch.nan)


class ClientEvaluator:
    """The per-client metric columns of an evaluation round (none when the dataset's
    clients hold no test split, as in the reference task)."""

    def __init__(self, config: EvalConfig, model: FunctionalModel, dataset: Any,
                 personal: Callable[..., torch.Tensor] | None = None, store: Any = None):
        self.config, self.model, self.dataset = config, model, dataset
        self.personal, self.store = personal, store
        self.split = dataset.client_test_split()
        if config.train_metrics and not isinstance(getattr(dataset, "train", None), Packed):
            raise UserError("evaluation.train_metrics: needs a dataset with fixed clients (their training data is "
                            "evaluated); this one draws fresh data each round")
        if config.finetune_steps and self.split is None:
            raise UserError("evaluation.finetune_steps: personalized evaluation needs clients with their own test "
                            "split (data.client_test_fraction > 0 on a dataset with fixed clients); this one has none")

    def __call__(self, params: torch.Tensor, round: int, server_state: Any = None) -> dict[str, float]:
        row: dict[str, float] = {}
        if self.config.train_metrics:
            row.update(train_metrics(self.model, params, self.dataset.train))
        if self.split is None:
            return row
        if self.config.per_client:
            row.update(summarize(client_accuracies(self.model, params, self.split), "client_accuracy"))
        if self.config.finetune_steps:
            acc = personalized_accuracies(self.model, params, self.dataset, round, self.config.finetune_steps,
                                          self.config.finetune_lr)
            row.update(summarize(acc, "personalized_accuracy"))
        if self.personal is not None:
            # A collective on the distributed engine: every rank evaluates, so all call it.
            acc = personal_accuracies(self.model, self.personal, params, server_state, self.store.state_dict(),
                                      self.split)
            row.update(summarize(acc, "personal_accuracy"))
            row["personal_clients"] = int((~acc.isnan()).sum())
        return row
