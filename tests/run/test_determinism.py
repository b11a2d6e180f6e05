"""Same seed, same machine, same numbers: runs use torch's deterministic kernels on CPU.

With two threads the backward of ``x[idx]`` (an accumulating ``index_put_``) adds in a thread-dependent
order; these tests run with two threads, where that order varies from call to call."""

from __future__ import annotations

import pytest
import torch

from lmrec.cf.alignment import AlignmentTargets
from lmrec.cf.notebook import CFSpec, build_model
from lmrec.cf.trainer import train_cf
from lmrec.eval import Protocol
from lmrec.run.context import start_run
from lmrec.utils import use_deterministic_kernels

from ..cf.cf_planted import planted_dataset, planted_profiles


@pytest.fixture
def two_threads():
    threads, was_on = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)
    use_deterministic_kernels(was_on)


def test_start_run_picks_deterministic_kernels_on_cpu_unless_told_otherwise(tmp_path, two_threads):
    start_run("x", str(tmp_path / "a"), device="cpu")
    assert torch.are_deterministic_algorithms_enabled()
    start_run("x", str(tmp_path / "b"), device="cpu", deterministic=False)
    assert not torch.are_deterministic_algorithms_enabled()


def _indexing_grad() -> torch.Tensor:
    torch.manual_seed(0)
    x = torch.randn(2600, 32, requires_grad=True)
    idx, w = torch.randint(0, 2600, (4096,)), torch.randn(4096, 32)
    (x[idx] * w).sum().backward()
    return x.grad


def test_indexing_backward_is_bitwise_repeatable(two_threads):
    use_deterministic_kernels(True)
    first = _indexing_grad()
    assert all(torch.equal(first, _indexing_grad()) for _ in range(10))


def test_same_seed_alignment_training_gives_identical_weights(two_threads):
    ds = planted_dataset(n_users=300, n_items=200, per_user=30)
    targets = AlignmentTargets(*planted_profiles(ds))
    use_deterministic_kernels(True)
    spec = CFSpec.from_notebook("lightgcn", {"ALIGNMENT": "con", "EMBED_DIM": 32, "LAYERS": 2, "KD_WEIGHT": 1.0, "EPOCHS": 1,
                                             "BATCH_SIZE": 2048, "EVAL_EVERY": 1}, progress=False)

    def weights() -> list[torch.Tensor]:
        torch.manual_seed(0)
        model = build_model(spec, ds, targets=targets)
        train_cf(model, ds, spec.train, Protocol(ks=(20,)), "cpu")
        return [p.detach().clone() for p in model.parameters()]

    first, second = weights(), weights()
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_deterministic_kernels_without_importing_inductor_reach_inductor_when_imported_later():
    """A fresh interpreter (as a notebook kernel is): the switch sets torch's flag in warn-only mode without the
    1.6-s import of ``torch._inductor``, and inductor, imported afterwards, starts deterministic too."""
    import subprocess
    import sys

    script = (
        "import sys, torch\n"
        "from lmrec.utils import use_deterministic_kernels\n"
        "use_deterministic_kernels(True)\n"
        "print(torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),\n"
        "      'torch._inductor.config' in sys.modules)\n"
        "import torch._inductor.config as c\n"
        "print(c.deterministic)\n"
        "use_deterministic_kernels(False)\n"
        "print(torch.are_deterministic_algorithms_enabled(), c.deterministic)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split() == ["True", "True", "False", "True", "False", "False"]
