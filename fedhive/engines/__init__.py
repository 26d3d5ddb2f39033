"""Engines decide where and how many client updates run at once; algorithms never know."""

from fedhive.engines.base import ClientError, CohortResult
from fedhive.engines.build import build_engine, is_leader
from fedhive.engines.sequential import SequentialEngine
from fedhive.engines.vectorized import VectorizedEngine

__all__ = ["ClientError", "CohortResult", "SequentialEngine", "VectorizedEngine", "build_engine", "is_leader"]
