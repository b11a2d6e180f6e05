"""Model selection of the sequential trainers: keep the best validation state, stop after ``patience``."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from torch import nn

VALID_KEYS = ("ndcg@10", "recall@10", "mrr")  # what a training history records per validation


@dataclass
class BestState:
    """The best validation score so far, its epoch and a copy of the model's state; ``bad`` counts the
    evaluations since the last improvement (``patience`` 0: never stop)."""

    patience: int = 0
    best_metric: float = float("-inf")
    best_epoch: int = 0
    state: dict | None = None
    bad: int = 0

    def update(self, score: float, epoch: int, model: nn.Module) -> None:
        """Record one validation score; copy the model's state when it improves."""
        if score > self.best_metric:
            self.best_metric, self.best_epoch, self.bad = score, epoch, 0
            self.state = copy.deepcopy(model.state_dict())
        else:
            self.bad += 1

    @property
    def should_stop(self) -> bool:
        return bool(self.patience) and self.bad >= self.patience

    def restore(self, model: nn.Module) -> None:
        """Load the best state into ``model`` (nothing when no evaluation happened)."""
        if self.state is not None:
            model.load_state_dict(self.state)
