"""Leave-one-out access, padding, losses and the vector evaluator of lmrec.seqrec."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lmrec.data import InteractionDataset, make_interactions
from lmrec.seqrec import (
    SEQ_PROTOCOL,
    LeaveOneOut,
    evaluate_encoder,
    evaluate_user_vectors,
    full_softmax_loss,
    in_batch_logits,
    in_batch_softmax_loss,
    iterate_batches,
    next_item_pairs,
    pad_sequences,
)
from lmrec.seqrec.losses import target_log_frequency


def toy_dataset() -> InteractionDataset:
    # user 0: 0 1 2 | valid 3 | test 4 ; user 1: 4 3 | valid 2 | test 1
    user = [0, 0, 0, 0, 0, 1, 1, 1, 1]
    item = [0, 1, 2, 3, 4, 4, 3, 2, 1]
    split = ["train"] * 3 + ["valid", "test"] + ["train"] * 2 + ["valid", "test"]
    ts = list(range(9))
    return InteractionDataset(name="toy", interactions=make_interactions(np.array(user), np.array(item), np.array(split, dtype=object), timestamp=np.array(ts, float)),
                              n_users=2, n_items=5, user_ids=np.array(["a", "b"], dtype=object),
                              item_ids=np.array([str(i) for i in range(5)], dtype=object), split_protocol="loo_time")


def test_leave_one_out_histories_and_targets():
    loo = LeaveOneOut.from_dataset(toy_dataset())
    assert [list(h) for h in loo.history("valid")] == [[0, 1, 2], [4, 3]]
    assert [list(h) for h in loo.history("test")] == [[0, 1, 2, 3], [4, 3, 2]]
    assert list(loo.targets("valid")) == [3, 2]
    assert list(loo.targets("test")) == [4, 1]


def test_leave_one_out_rejects_multiple_targets():
    ds = toy_dataset()
    inter = ds.interactions.copy()
    inter.loc[2, "split"] = "valid"
    bad = InteractionDataset(name="bad", interactions=inter, n_users=2, n_items=5, user_ids=ds.user_ids, item_ids=ds.item_ids)
    with pytest.raises(ValueError, match="leave-one-out"):
        LeaveOneOut.from_dataset(bad)


def test_pad_left_right_truncate_and_reverse():
    seqs = [np.array([1, 2, 3, 4]), np.array([7]), np.array([], dtype=np.int64)]
    ids, mask = pad_sequences(seqs, 3, side="left", pad_value=-1)
    assert ids.tolist() == [[2, 3, 4], [-1, -1, 7], [-1, -1, -1]]
    assert mask.tolist() == [[True] * 3, [False, False, True], [False] * 3]
    ids, mask = pad_sequences(seqs, 3, side="right", pad_value=0, recent_first=True)
    assert ids.tolist() == [[4, 3, 2], [7, 0, 0], [0, 0, 0]]
    assert mask.tolist() == [[True] * 3, [True, False, False], [False] * 3]


def test_next_item_pairs():
    prefixes, targets, users = next_item_pairs([np.array([5, 6, 7]), np.array([9])])
    assert [list(p) for p in prefixes] == [[5], [5, 6]]
    assert targets.tolist() == [6, 7] and users.tolist() == [0, 0]
    prefixes, targets, _ = next_item_pairs([np.array([5, 6, 7, 8])], max_pairs_per_user=1)
    assert [list(p) for p in prefixes] == [[5, 6, 7]] and targets.tolist() == [8]


def test_iterate_batches_covers_everything_once():
    g = torch.Generator().manual_seed(0)
    seen = torch.cat(list(iterate_batches(10, 3, shuffle=True, generator=g)))
    assert sorted(seen.tolist()) == list(range(10))
    assert [len(b) for b in iterate_batches(10, 3, drop_last=True)] == [3, 3, 3]


def test_in_batch_loss_masks_duplicate_targets_hand_computed():
    user = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    item = torch.tensor([[0.8, 0.6], [0.0, 1.0], [1.0, 0.0]])
    targets = torch.tensor([5, 7, 5])  # rows 0 and 2 share a target: they must not be each other's negative
    logits = in_batch_logits(user, item, targets, scale=2.0)
    assert torch.isinf(logits[0, 2]) and torch.isinf(logits[2, 0])
    assert not torch.isinf(logits[1]).any()
    # row 0: pos 2*0.8, neg 2*0 ; row 1: pos 2*1, negs 2*0.6, 2*0 ; row 2: pos 2*0.6, neg 2*0.8
    rows = [(1.6, [0.0]), (2.0, [1.2, 0.0]), (1.2, [1.6])]
    expected = np.mean([-(p - math.log(math.exp(p) + sum(math.exp(n) for n in negs))) for p, negs in rows])
    assert in_batch_softmax_loss(user, item, targets, scale=2.0).item() == pytest.approx(expected, rel=1e-6)
    unmasked = in_batch_softmax_loss(user, item, None, scale=2.0).item()
    assert unmasked > expected  # the masked duplicate no longer pushes the positive down


def test_full_softmax_loss_matches_cross_entropy_and_exclusion():
    user = torch.tensor([[1.0, 0.0]])
    table = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1]])
    loss = full_softmax_loss(user, table, torch.tensor([0]), scale=1.0)
    expected = -(1.0 - math.log(math.exp(1.0) + math.exp(0.0) + math.exp(0.9)))
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    excl = torch.tensor([[True, False, True]])  # item 2 excluded; the target itself is never excluded
    loss = full_softmax_loss(user, table, torch.tensor([0]), scale=1.0, exclude=excl)
    assert loss.item() == pytest.approx(-(1.0 - math.log(math.exp(1.0) + 1.0)), rel=1e-6)


def test_evaluate_user_vectors_masks_history():
    ds = toy_dataset()
    table = torch.eye(5)
    # user 0 prefers item 3 then 4; user 1 prefers 2 then 1 -> valid targets at rank 1
    users = torch.tensor([[0, 0, 0, 2.0, 1.0], [0, 1.0, 2.0, 0, 0]])
    res = evaluate_user_vectors(users, table, ds, "valid")
    assert res.metrics["ndcg@10"] == pytest.approx(1.0) and res.metrics["mrr"] == pytest.approx(1.0)
    # at test the valid items (3 for user 0, 2 for user 1) are masked, so the test targets rank first
    res = evaluate_user_vectors(users, table, ds, "test")
    assert res.metrics["mrr"] == pytest.approx(1.0)
    assert SEQ_PROTOCOL.ks == (10, 50) and SEQ_PROTOCOL.mask_valid_at_test


def test_unmasked_evaluation_ranks_history_items_too():
    ds = toy_dataset()
    table = torch.eye(5)
    # user 0 scores its training item 0 first and its valid target 3 second; user 1 its training item 4 first,
    # then its valid target 2: masked, the targets rank first; unmasked (Recformer's Ranker), second
    users = torch.tensor([[3.0, 0, 0, 2.0, 0], [0, 0, 2.0, 0, 3.0]])
    masked = evaluate_user_vectors(users, table, ds, "valid")
    unmasked = evaluate_user_vectors(users, table, ds, "valid", mask_history=False)
    assert masked.metrics["mrr"] == pytest.approx(1.0) and unmasked.metrics["mrr"] == pytest.approx(0.5)
    encoded = evaluate_encoder(lambda ids, mask: users[: len(ids)], table, ds, "valid", max_len=4, mask_history=False)
    assert encoded.metrics["mrr"] == pytest.approx(0.5)


def test_evaluate_encoder_uses_split_history():
    ds = toy_dataset()
    table = torch.eye(5)

    def last_item_plus_one(ids, mask):  # planted rule: next item = last item + 1 (mod 5)
        return torch.nn.functional.one_hot((ids[:, -1] + 1) % 5, 5).float()

    res = evaluate_encoder(last_item_plus_one, table, ds, "test", max_len=4)
    # user 0: last 3 -> predicts 4 = target; user 1: last 2 -> predicts 3, which is history (masked), so
    # its two unmasked items both score 0 and the target ranks second under the evaluator's pessimistic ties
    assert res.metrics["mrr"] == pytest.approx((1.0 + 1 / 2) / 2)
    res = evaluate_encoder(last_item_plus_one, table, ds, "valid", max_len=4)
    # user 0: last 2 -> predicts 3 = target; user 1: last 3 -> predicts 4, which is history -> target ranks first
    assert res.metrics["hit@10"] == pytest.approx(1.0)
    # negated: user 0's target (item 3) scores below item 4 -> rank 2; user 1's three unmasked items tie at 0 and
    # the target goes last among them -> rank 3
    negated = evaluate_encoder(lambda i, m: -last_item_plus_one(i, m), table, ds, "valid", max_len=4)
    assert negated.metrics["mrr"] == pytest.approx((1 / 2 + 1 / 3) / 2)


def test_restrict_to_items_keeps_targets_and_reindexes():
    import pandas as pd

    from lmrec.seqrec.subset import items_with_text, restrict_to_items

    ds = toy_dataset()
    ds.item_text = pd.DataFrame({"text": ["a", "", "c", "d", "e"]})  # item 1 has no text
    keep = items_with_text(ds)
    assert keep.tolist() == [True, False, True, True, True]
    sub, stats = restrict_to_items(ds, keep)
    # user 1's test target is item 1 (no text): user 1 goes; user 0 keeps 0, 2 | 3 | 4
    assert sub.n_users == 1 and stats["users"] == 1 and sub.n_items == 4
    loo = LeaveOneOut.from_dataset(sub)
    raw = sub.item_ids
    assert [raw[i] for i in loo.history("test")[0]] == ["0", "2", "3"]
    assert raw[loo.targets("test")[0]] == "4" and raw[loo.targets("valid")[0]] == "3"


def test_an_item_has_text_when_any_of_its_columns_has_some():
    import pandas as pd

    from lmrec.seqrec.subset import items_with_text

    ds = toy_dataset()
    ds.item_text = pd.DataFrame({"title": ["a", "", "c", None, " "], "brand": ["x", "y", "", None, ""]})
    assert items_with_text(ds).tolist() == [True, True, True, False, False]


def test_restrict_to_items_drops_users_left_without_a_training_item():
    """A user whose held-out items have text but whose every training item lacks it has no history to
    encode: the subset leaves that user out."""
    import pandas as pd

    from lmrec.seqrec.subset import restrict_to_items

    # user 0: 0 1 2 | 3 | 4 as in toy_dataset; user 1: train 5 6 (no text) | valid 2 | test 1
    user, item = [0, 0, 0, 0, 0, 1, 1, 1, 1], [0, 1, 2, 3, 4, 5, 6, 2, 1]
    split = ["train"] * 3 + ["valid", "test"] + ["train"] * 2 + ["valid", "test"]
    ds = InteractionDataset(name="toy", interactions=make_interactions(np.array(user), np.array(item), np.array(split, dtype=object),
                                                                       timestamp=np.arange(9, dtype=float)),
                            n_users=2, n_items=7, user_ids=np.array(["a", "b"], dtype=object),
                            item_ids=np.array([str(i) for i in range(7)], dtype=object), split_protocol="loo_time",
                            item_text=pd.DataFrame({"text": ["a", "b", "c", "d", "e", "", ""]}))
    sub, stats = restrict_to_items(ds, np.array([True] * 5 + [False] * 2))
    assert sub.n_users == 1 and list(sub.user_ids) == ["a"] and stats["users"] == 1


def test_text_subset_restricts_only_when_some_items_lack_text():
    import pandas as pd

    from lmrec.seqrec.subset import text_subset

    ds = toy_dataset()
    ds.item_text = pd.DataFrame({"text": ["a", "b", "c", "d", "e"]})
    same, stats = text_subset(ds)
    assert same is ds and stats == {"text_subset": False, "items_with_text": 5, "n_items": 5}
    ds.item_text = pd.DataFrame({"text": ["a", "", "c", "d", "e"]})
    sub, stats = text_subset(ds)
    assert stats["text_subset"] and stats["items_with_text"] == 4 and (sub.n_users, sub.n_items) == (1, 4)


def test_logq_subtracts_each_columns_target_log_frequency():
    g = torch.Generator().manual_seed(1)
    users, items = F.normalize(torch.randn(4, 8, generator=g), dim=-1), F.normalize(torch.randn(4, 8, generator=g), dim=-1)
    targets = torch.tensor([0, 2, 2, 5])
    log_q = torch.log(torch.tensor([0.4, 0.05, 0.3, 0.05, 0.1, 0.1]))
    logits = 20 * users @ items.T
    logits[1, 2] = logits[2, 1] = float("-inf")  # rows 1 and 2 share their target: not each other's negative
    logits = logits - log_q[targets][None, :]
    expected = F.cross_entropy(logits, torch.arange(4))
    assert in_batch_softmax_loss(users, items, targets, 20.0, log_q).item() == pytest.approx(expected.item(), rel=1e-6)
    assert in_batch_softmax_loss(users, items, targets, 20.0).item() != pytest.approx(expected.item(), rel=1e-3)


def test_target_log_frequency_counts_every_training_position_with_add_one_smoothing():
    log_q = target_log_frequency([[0, 1, 1], [1, 3]], n_items=4)
    assert torch.allclose(log_q.exp(), torch.tensor([2, 4, 1, 2]) / 9.0)
