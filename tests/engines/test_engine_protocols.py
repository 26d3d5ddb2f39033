"""What engines detect about an update, a dataset and each other, by the named protocols
they check rather than by attribute lookups."""

from __future__ import annotations

import torch

from fedhive.client.state import ClientStateStore
from fedhive.client.update import CohortSum, FusedUpdate, gradient_update, local_sgd_update
from fedhive.config import EngineConfig, load_config
from fedhive.data.federated import DrawsSteps, ReportsWork, reported_work
from fedhive.data.synthetic import ReferenceTask
from fedhive.engines.base import AgreesStop
from fedhive.engines.distributed import DistributedEngine
from fedhive.engines.sequential import SequentialEngine
from fedhive.engines.vectorized import VectorizedEngine, cohort_steps
from fedhive.experiment import Experiment
from fedhive.run_folder.checkpoint import Stateful
from fedhive.system.budget import BudgetedData


class BatchesOnly:
    """A dataset with only the required `cohort_batches`."""

    def __init__(self, task: ReferenceTask):
        self.task = task

    def cohort_batches(self, round, client_ids):
        return self.task.cohort_batches(round, client_ids)


def _task() -> ReferenceTask:
    return ReferenceTask(load_config(None, ["data.batch_size=10"]).data, 0)


def test_only_the_gradient_update_offers_a_fused_cohort_sum():
    model = Experiment(load_config(None, [])).model
    fused = gradient_update(model)
    assert isinstance(fused, FusedUpdate) and isinstance(fused.cohort_sum, CohortSum)
    assert not isinstance(local_sgd_update(model, lr=0.1), FusedUpdate)


def test_work_and_packed_draws_are_optional_dataset_capabilities():
    task, bare = _task(), BatchesOnly(_task())
    assert isinstance(task, ReportsWork) and isinstance(task, DrawsSteps)
    assert not isinstance(bare, ReportsWork) and not isinstance(bare, DrawsSteps)
    ids = [3, 1, 4]
    assert reported_work(task, 2, ids) == [int(s) for s in task.cohort_batches(2, ids).mask.amax(-1).sum(-1)]
    assert reported_work(bare, 2, ids) is None
    # A budgeted view reports its dataset's work, and only when the dataset does.
    assert reported_work(BudgetedData(task, {}), 2, ids) == reported_work(task, 2, ids)
    assert reported_work(BudgetedData(bare, {}), 2, ids) is None
    # Without a packed draw the padded batches are packed: the same steps either way.
    drawn, built = cohort_steps(task, 2, ids), cohort_steps(bare, 2, ids)
    assert drawn.steps.tolist() == built.steps.tolist()
    torch.testing.assert_close(drawn.x, built.x)


def test_only_the_distributed_engine_agrees_on_stopping():
    assert issubclass(DistributedEngine, AgreesStop)
    config = EngineConfig()
    assert not isinstance(SequentialEngine(config), AgreesStop)
    assert not isinstance(VectorizedEngine(config), AgreesStop)


def test_stateful_parts_are_the_ones_with_state_dicts():
    store = ClientStateStore(lambda p: {}, torch.zeros(3))
    assert isinstance(store, Stateful) and isinstance(VectorizedEngine(EngineConfig()), Stateful)
    assert not isinstance(SequentialEngine(EngineConfig()), Stateful)
