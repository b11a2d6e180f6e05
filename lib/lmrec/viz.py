"""Plots the notebooks share: training curves and metric bars (matplotlib, nothing else)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt

BOOKKEEPING_KEYS = ("epoch", "step", "stage", "seconds", "lr", "task")  # history columns that are no loss


def loss_keys(history: Sequence[Mapping[str, float]]) -> list[str]:
    """The loss columns of a training history (every key that is neither bookkeeping nor ``valid_*``), in
    first-seen order."""
    keys: dict[str, None] = {}
    for row in history:
        for k in row:
            if k not in BOOKKEEPING_KEYS and not k.startswith("valid_"):
                keys[k] = None
    return list(keys)


def plot_curves(history: Sequence[Mapping[str, float]], keys: Sequence[str], x: str = "epoch",
                title: str = "", ax=None):
    """Line plot of ``history`` (a list of dicts, e.g. one per epoch) for each key present in it."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.2))
    for key in keys:
        pts = [(h[x], h[key]) for h in history if key in h and x in h]
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, ms=3, label=key)
    ax.set_xlabel(x)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def plot_metric_bars(rows: Mapping[str, Mapping[str, float]], metrics: Sequence[str], title: str = "", ax=None):
    """Grouped bars: one group per metric, one bar per row label (e.g. model variant)."""
    import numpy as np

    if ax is None:
        _, ax = plt.subplots(figsize=(max(5, 1.4 * len(metrics)), 3.2))
    labels = list(rows)
    width = 0.8 / max(1, len(labels))
    xs = np.arange(len(metrics))
    for i, label in enumerate(labels):
        ax.bar(xs + i * width, [rows[label].get(m, float("nan")) for m in metrics], width, label=label)
    ax.set_xticks(xs + width * (len(labels) - 1) / 2, metrics)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return ax
