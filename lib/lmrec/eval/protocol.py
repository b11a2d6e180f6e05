"""Evaluation protocol: the options that change a number, printed in every table caption."""

from __future__ import annotations

from dataclasses import asdict, dataclass

RECALL_DENOMINATORS = ("n_relevant", "min_k")
NDCG_IDEALS = ("relevant", "retrieved_hits")
USER_SETS = ("with_targets",)


@dataclass(frozen=True)
class Protocol:
    """How full-ranking evaluation is done.

    ``recall_denominator``: ``n_relevant`` divides hits by |T| (RLMRec, LLMRec); ``min_k`` by min(K, |T|)
    (CLLM4Rec, Multi-VAE). ``mask_valid_at_test`` also hides validation items when scoring the test split.
    ``ndcg_ideal``: ``relevant`` normalises DCG by the ideal ordering of min(K, |T|) relevant items (the
    standard definition, default); ``retrieved_hits`` by the ideal ordering of only the hits retrieved in
    the top K, as LLMRec's released code does (inflates NDCG when |T| > 1; kept to reproduce its numbers).
    ``users``: ``with_targets`` counts every user with at least one target item in the evaluated split.
    """

    ks: tuple[int, ...] = (5, 10, 20)
    recall_denominator: str = "n_relevant"
    mask_valid_at_test: bool = False
    users: str = "with_targets"
    ndcg_ideal: str = "relevant"

    def __post_init__(self) -> None:
        if self.recall_denominator not in RECALL_DENOMINATORS:
            raise ValueError(f"recall_denominator={self.recall_denominator!r}; choose one of {RECALL_DENOMINATORS}")
        if self.ndcg_ideal not in NDCG_IDEALS:
            raise ValueError(f"ndcg_ideal={self.ndcg_ideal!r}; choose one of {NDCG_IDEALS}")
        if self.users not in USER_SETS:
            raise ValueError(f"users={self.users!r}; choose one of {USER_SETS}")
        if not self.ks or min(self.ks) < 1:
            raise ValueError(f"ks must be positive cut-offs, got {self.ks}")
        object.__setattr__(self, "ks", tuple(sorted(int(k) for k in self.ks)))

    def caption(self, history_masked: bool = True) -> str:
        """The protocol in words; ``history_masked=False`` for a ranking that masked nothing (Recformer's evaluator)."""
        denom = "|T|" if self.recall_denominator == "n_relevant" else "min(K,|T|)"
        masked = ("train+valid items masked at test" if self.mask_valid_at_test else "train items masked at test") \
            if history_masked else "history not masked"
        return (f"full ranking over all items; {masked}; Recall denominator {denom}; "
                f"users with >=1 target; K in {list(self.ks)}; ties ranked pessimistically"
                + ("; NDCG ideal over retrieved hits (LLMRec code)" if self.ndcg_ideal == "retrieved_hits" else ""))

    def to_dict(self) -> dict:
        return asdict(self)
