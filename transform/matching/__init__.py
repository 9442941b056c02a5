"""Probabilistic matching (Splink, in the warehouse) and the human review queue of identity resolution."""

from transform.matching.review import (
    AlreadyDecidedError,
    DecisionResult,
    ReviewError,
    UnknownPairError,
    decide,
    list_queue,
    pair_id,
)
from transform.matching.runner import MatchInputError, MatchReport, run_matching
from transform.matching.settings import MatchSettings, MatchSettingsError, load_settings

__all__ = [
    "AlreadyDecidedError",
    "DecisionResult",
    "MatchInputError",
    "MatchReport",
    "MatchSettings",
    "MatchSettingsError",
    "ReviewError",
    "UnknownPairError",
    "decide",
    "list_queue",
    "load_settings",
    "pair_id",
    "run_matching",
]
