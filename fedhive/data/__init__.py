"""Federated datasets: what each client holds and how a cohort's batches are gathered."""

from fedhive.data.arrays import ArrayData, federate, from_arrays
from fedhive.data.batches import Batches
from fedhive.data.build import build_dataset
from fedhive.data.federated import ClientData, FederatedDataset, Packed
from fedhive.data.store import load, save
from fedhive.data.synthetic import ReferenceTask
from fedhive.data.user import from_csv, from_torch

__all__ = ["ArrayData", "Batches", "ClientData", "FederatedDataset", "Packed", "ReferenceTask", "build_dataset",
           "federate", "from_arrays", "from_csv", "from_torch", "load", "save"]
