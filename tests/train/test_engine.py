"""The training engine: validation schedule, selection, patience, restore, time budget, checkpoints, resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmrec.train import CHECKPOINT_NAME, FitConfig, TrainingState, fit


class Scripted:
    """An epoch body that writes the epoch number into a weight, and a validation with scripted scores."""

    def __init__(self, scores: dict[int, float]):
        self.model = torch.nn.Linear(1, 1, bias=False)
        self.scores = scores
        self.validated: list[int] = []

    def train_epoch(self, epoch: int) -> dict[str, float]:
        self.model.weight.data.fill_(float(epoch))
        return {"loss": 1.0 / epoch}

    def validate(self, epoch: int) -> dict[str, float]:
        self.validated.append(epoch)
        return {"recall@20": self.scores[epoch], "ndcg@20": -self.scores[epoch]}

    def state(self) -> TrainingState:
        return TrainingState({"model": self.model})


def test_validates_on_schedule_and_at_the_last_epoch():
    s = Scripted({e: 0.1 * e for e in range(1, 8)})
    out = fit(s.train_epoch, s.validate, FitConfig(epochs=7, eval_every=3, progress=False), s.state())
    assert s.validated == [3, 6, 7]
    assert [("valid_recall@20" in h) for h in out.history] == [e in (3, 6, 7) for e in range(1, 8)]
    assert {"epoch", "loss", "seconds"} <= set(out.history[0])
    assert out.status == "completed" and out.epochs_run == 7


def test_keeps_the_best_state_by_the_named_metric_and_stops_on_patience():
    # best recall@20 at epoch 2; three validations without improvement (3, 4, 5) stop before epoch 6's 0.9
    s = Scripted({1: 0.1, 2: 0.3, 3: 0.2, 4: 0.3, 5: 0.1, 6: 0.9})
    out = fit(s.train_epoch, s.validate, FitConfig(epochs=6, patience=3, progress=False), s.state())
    assert (out.best_epoch, out.best_metric, out.epochs_run, out.status) == (2, 0.3, 5, "converged")
    assert s.model.weight.item() == 2.0  # the best state is restored, not the last one
    # selecting on another metric picks another epoch (ndcg@20 is the negated score: best at epoch 1)
    s = Scripted({1: 0.1, 2: 0.3, 3: 0.2, 4: 0.3, 5: 0.1, 6: 0.9})
    out = fit(s.train_epoch, s.validate, FitConfig(epochs=6, patience=3, select_metric="ndcg@20", progress=False),
              s.state())
    assert out.best_epoch == 1 and s.model.weight.item() == 1.0


def test_running_out_of_epochs_with_patience_left_is_not_converged():
    s = Scripted({e: 0.1 * e for e in range(1, 5)})  # still improving at the last epoch
    out = fit(s.train_epoch, s.validate, FitConfig(epochs=4, patience=2, progress=False), s.state())
    assert out.status == "epoch_limit" and out.epochs_run == 4


def test_patience_zero_never_stops_and_an_unknown_metric_is_named():
    s = Scripted({e: 1.0 / e for e in range(1, 6)})
    out = fit(s.train_epoch, s.validate, FitConfig(epochs=5, patience=0, progress=False), s.state())
    assert out.epochs_run == 5 and out.best_epoch == 1
    with pytest.raises(KeyError, match="mrr"):
        fit(s.train_epoch, s.validate, FitConfig(epochs=2, select_metric="mrr", progress=False), s.state())
    with pytest.raises(ValueError, match="eval_every"):
        FitConfig(epochs=2, eval_every=0)


class Noisy:
    """An epoch body that draws from every kind of random generator, so a resume that misses one drifts."""

    def __init__(self, seed: int = 0):
        torch.manual_seed(seed)
        np.random.seed(seed)
        self.model = torch.nn.Linear(4, 1)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=0.05)
        self.sched = torch.optim.lr_scheduler.StepLR(self.opt, step_size=2, gamma=0.5)
        self.gen = torch.Generator().manual_seed(seed + 1)
        self.rng = np.random.default_rng(seed + 2)
        self.fail_at: int | None = None

    def train_epoch(self, epoch: int) -> dict[str, float]:
        if epoch == self.fail_at:
            raise KeyboardInterrupt(f"interrupted in epoch {epoch}")
        x = torch.randn(16, 4) + torch.randn(16, 4, generator=self.gen)
        y = torch.as_tensor(self.rng.normal(size=(16, 1)) + np.random.normal(size=(16, 1)), dtype=torch.float32)
        loss = torch.nn.functional.mse_loss(self.model(x), y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.sched.step()
        return {"loss": float(loss)}

    def validate(self, epoch: int) -> dict[str, float]:
        return {"score": -float(self.model.weight.square().sum() + self.model.bias.square().sum())}

    def state(self) -> TrainingState:
        return TrainingState({"model": self.model, "optimizer": self.opt, "scheduler": self.sched},
                             {"gen": self.gen, "rng": self.rng})


CFG = FitConfig(epochs=9, eval_every=2, patience=0, select_metric="score", progress=False)


def _fingerprint(n: Noisy, out) -> tuple:
    return (n.model.weight.detach().clone().tolist(), float(n.model.bias), out.best_epoch,
            [round(h["loss"], 10) for h in out.history])


def test_an_interrupted_run_resumes_to_the_numbers_of_an_uninterrupted_one(tmp_path):
    ref = Noisy()
    expected = _fingerprint(ref, fit(ref.train_epoch, ref.validate, CFG, ref.state(), tmp_path / "ref"))
    # a finished run keeps its result: a re-run reuses it without training
    reuse = Noisy(seed=7)
    reuse.fail_at = 1
    out = fit(reuse.train_epoch, reuse.validate, CFG, reuse.state(), tmp_path / "ref")
    assert _fingerprint(reuse, out)[1:] == expected[1:] and out.status == "completed"
    assert reuse.model.weight.tolist() == ref.model.weight.tolist()

    first = Noisy()
    first.fail_at = 6
    with pytest.raises(KeyboardInterrupt):
        fit(first.train_epoch, first.validate, CFG, first.state(), tmp_path / "run")
    assert (tmp_path / "run" / CHECKPOINT_NAME).exists()  # written at the validation of epoch 4
    again = Noisy(seed=99)  # fresh objects in another state: everything must come from the checkpoint
    out = fit(again.train_epoch, again.validate, CFG, again.state(), tmp_path / "run")
    assert out.resumed_from == 5 and out.status == "completed"
    assert _fingerprint(again, out) == expected


def test_a_capped_run_says_so_and_a_rerun_continues_it(tmp_path):
    ref = Noisy()
    expected = _fingerprint(ref, fit(ref.train_epoch, ref.validate, CFG, ref.state()))
    capped = Noisy()
    cfg = FitConfig(**{**CFG.__dict__, "time_limit_s": 0.0})
    # a method's own config (its identity) carries the budget too; it must not tie the checkpoint to it
    out = fit(capped.train_epoch, capped.validate, cfg, capped.state(), tmp_path,
              identity={"config": {"lr": 0.05, "time_limit_s": 0.0}})
    assert (out.status, out.epochs_run) == ("capped", 1)  # the budget is checked after every epoch
    assert (tmp_path / CHECKPOINT_NAME).exists()
    again = Noisy(seed=5)
    out = fit(again.train_epoch, again.validate, CFG, again.state(), tmp_path,  # no budget now
              identity={"config": {"lr": 0.05, "time_limit_s": None}})
    assert out.resumed_from == 2 and out.status == "completed"
    assert _fingerprint(again, out) == expected


def test_a_checkpoint_of_other_settings_is_not_resumed(tmp_path, capsys):
    first = Noisy()
    first.fail_at = 4
    with pytest.raises(KeyboardInterrupt):
        fit(first.train_epoch, first.validate, CFG, first.state(), tmp_path, identity={"lr": 0.05})
    other = Noisy()
    out = fit(other.train_epoch, other.validate, CFG, other.state(), tmp_path, identity={"lr": 0.1})
    assert out.resumed_from == 0 and "other settings" in capsys.readouterr().out


@pytest.mark.parametrize("change", [{"eval_every": 3}, {"patience": 5}, {"select_metric": "other"}, {"epochs": 12}])
def test_a_checkpoint_of_other_loop_settings_is_not_resumed(tmp_path, capsys, change):
    """The loop's own settings (schedule, patience, selection metric, epochs) are part of the checkpoint identity
    as much as the method's: a checkpoint written under others starts the run afresh (the budget aside)."""
    from dataclasses import asdict

    first = Noisy()
    first.fail_at = 4
    with pytest.raises(KeyboardInterrupt):
        fit(first.train_epoch, first.validate, CFG, first.state(), tmp_path, identity={"lr": 0.05})
    other = Noisy()
    out = fit(other.train_epoch, lambda e: {**other.validate(e), "other": float(e)},
              FitConfig(**{**asdict(CFG), **change}), other.state(), tmp_path, identity={"lr": 0.05})
    assert out.resumed_from == 0 and "other settings" in capsys.readouterr().out


def test_a_later_stage_must_beat_the_score_it_starts_from():
    s = Scripted({1: 0.2, 2: 0.4})
    s.model.weight.data.fill_(-1.0)  # the state the stage starts from, worth 0.5 on validation
    out = fit(s.train_epoch, s.validate, FitConfig(epochs=2, progress=False), s.state(), initial_best=0.5)
    assert (out.best_epoch, out.best_metric, s.model.weight.item()) == (0, 0.5, -1.0)
    out = fit(s.train_epoch, s.validate, FitConfig(epochs=2, progress=False), s.state(), initial_best=0.3)
    assert (out.best_epoch, s.model.weight.item()) == (2, 2.0)


def test_a_stage_without_validation_keeps_the_last_state_and_checkpoints_on_schedule(tmp_path):
    s = Scripted({})
    s.fail = 5

    def body(epoch: int) -> dict[str, float]:
        if epoch == s.fail:
            raise KeyboardInterrupt
        return s.train_epoch(epoch)

    with pytest.raises(KeyboardInterrupt):
        fit(body, None, FitConfig(epochs=6, eval_every=2, progress=False), s.state(), tmp_path)
    s.fail = None
    out = fit(body, None, FitConfig(epochs=6, eval_every=2, progress=False), s.state(), tmp_path)
    assert (out.resumed_from, out.best_epoch, out.epochs_run, s.model.weight.item()) == (5, 0, 6, 6.0)
    assert not any(k.startswith("valid_") for h in out.history for k in h)


def test_the_budget_bounds_each_call_so_a_rerun_trains_as_long_again(tmp_path):
    import time

    s = Scripted({e: 0.0 for e in range(1, 41)})

    def slow(epoch: int) -> dict[str, float]:
        time.sleep(0.1)
        return s.train_epoch(epoch)

    cfg = FitConfig(epochs=40, eval_every=40, time_limit_s=0.25, progress=False)
    first = fit(slow, s.validate, cfg, s.state(), tmp_path)
    second = fit(slow, s.validate, cfg, s.state(), tmp_path)
    assert first.status == second.status == "capped"
    assert second.epochs_run - first.epochs_run >= 2  # a budget summed over calls would allow one epoch
    assert second.train_seconds > second.call_seconds >= 0.25


def test_a_run_interrupted_while_waiting_on_patience_stops_where_the_uninterrupted_one_does(tmp_path):
    """Best at epoch 2, no improvement at 3 and 4, stop at 5 (patience 3): a run killed during epoch 5 resumes
    with two validations already spent, not with fresh patience."""
    scores = {1: 0.1, 2: 0.5, 3: 0.2, 4: 0.3, 5: 0.1, 6: 0.2, 7: 0.4, 8: 0.1}
    cfg = FitConfig(epochs=8, patience=3, progress=False)
    ref = Scripted(scores)
    expected = fit(ref.train_epoch, ref.validate, cfg, ref.state())
    assert (expected.epochs_run, expected.status) == (5, "converged")
    killed = Scripted(scores)

    def body(epoch: int) -> dict[str, float]:
        if epoch == 5:
            raise KeyboardInterrupt
        return killed.train_epoch(epoch)

    with pytest.raises(KeyboardInterrupt):
        fit(body, killed.validate, cfg, killed.state(), tmp_path)
    again = Scripted(scores)
    out = fit(again.train_epoch, again.validate, cfg, again.state(), tmp_path)
    assert (out.resumed_from, out.epochs_run, out.status, out.best_epoch) == (5, 5, "converged", 2)
    assert again.model.weight.item() == 2.0
