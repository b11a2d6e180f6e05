"""Full-ranking evaluation and metrics, one implementation for every method."""

from .protocol import Protocol
from .ranking import EvalResult, evaluate, evaluate_split, exclusion, rank_metrics

__all__ = ["Protocol", "EvalResult", "evaluate", "evaluate_split", "exclusion", "rank_metrics"]
