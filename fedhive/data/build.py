"""Build the dataset a config names: generated, real (partitioned) or loaded from a file."""

from __future__ import annotations

from fedhive.config import DataConfig
from fedhive.data.arrays import federate
from fedhive.data.datasets import SOURCES
from fedhive.data.federated import ClientData, FederatedDataset
from fedhive.data.synthetic import ReferenceTask
from fedhive.data.validate import check_arrays


def build_dataset(config: DataConfig, seed: int) -> ClientData:
    """The dataset named in the config, split among clients as `config.partition` says."""
    if config.name == "reference":
        return ReferenceTask(config, seed)
    if config.name == "file":
        from fedhive.data import store

        if store.is_saved_dataset(config.file_path):
            return store.load(config.file_path, config.batch_size, seed)
    source = config.file_path if config.name == "file" else config.name
    load = SOURCES[config.name].load
    assert load is not None  # only the reference task, returned above, has no loader
    arrays = load(config, seed)
    if isinstance(arrays, FederatedDataset):  # published with its own clients
        return arrays
    arrays = check_arrays(arrays, str(source), config.drop_nonfinite)
    return federate(arrays, config.partition, config.clients, seed, config.client_test_fraction, config.batch_size)
