"""Engines decide where and how many client updates run at once; algorithms never know."""

from fedhive.engines.base import CohortResult, build_engine, is_leader
from fedhive.engines.sequential import SequentialEngine

__all__ = ["CohortResult", "SequentialEngine", "build_engine", "is_leader"]
