"""Federated datasets: what each client holds and how a cohort's batches are gathered."""

from fedhive.data.batches import Batches
from fedhive.data.synthetic import ReferenceTask, build_dataset

__all__ = ["Batches", "ReferenceTask", "build_dataset"]
