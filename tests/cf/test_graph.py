"""Normalised adjacency, propagation backends, edge dropout."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from lmrec.cf.graph import BACKENDS, Graph, backend_available, normalized_adjacency


def _dense(rows, cols, vals, n):
    out = np.zeros((n, n))
    out[rows, cols] = vals
    return out


def test_normalized_adjacency_hand_computed():
    # users 0,1; items 0,1; edges u0-i0, u0-i1, u1-i1 (duplicate entry must be binarised)
    r = sp.coo_matrix((np.array([1.0, 1.0, 1.0, 3.0]), (np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]))), shape=(2, 2))
    a = _dense(*normalized_adjacency(r), 4)
    # degrees: u0=2, u1=1, i0=1, i1=2 -> entry (u,i) = 1/sqrt(d_u d_i)
    expect = np.zeros((4, 4))
    for u, i, v in [(0, 2, 1 / np.sqrt(2 * 1)), (0, 3, 1 / np.sqrt(2 * 2)), (1, 3, 1 / np.sqrt(1 * 2))]:
        expect[u, i] = expect[i, u] = v
    np.testing.assert_allclose(a, expect, rtol=1e-6)


def test_self_loops_count_in_degree():
    r = sp.csr_matrix(np.array([[1.0]]))
    a = _dense(*normalized_adjacency(r, self_loops=True), 2)
    # A + I = [[1,1],[1,1]], degrees 2 -> every entry 1/2
    np.testing.assert_allclose(a, np.full((2, 2), 0.5), rtol=1e-6)


def _random_graph(backend="torch", seed=0):
    rng = np.random.default_rng(seed)
    r = sp.random(30, 40, density=0.15, random_state=rng, format="csr")
    r.data[:] = 1
    return Graph(r, backend=backend), r


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("self_loops", [False, True])
def test_backends_agree_with_dense_in_value_and_gradient(backend, self_loops):
    if not backend_available(backend):
        pytest.skip(f"{backend} is not installed (optional extra 'pyg'; wheels in ../shared/wheels)")
    g, _ = _random_graph(backend)
    adj = g.adj(self_loops)
    dense = adj.dense()
    x = torch.randn(g.n_nodes, 5, requires_grad=True)
    w = torch.randn(g.n_nodes, 5)
    out = adj @ (adj @ x)
    (out * w).sum().backward()
    x2 = x.detach().clone().requires_grad_(True)
    ref = dense @ (dense @ x2)
    (ref * w).sum().backward()
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not (backend_available("torch_sparse") and backend_available("torch_scatter")),
                    reason="torch-sparse/torch-scatter not installed (optional extra 'pyg')")
def test_optional_backends_match_pure_pytorch_after_edge_dropout():
    base, r = _random_graph("torch")
    torch.manual_seed(3)
    dropped = base.adj().drop_edges(0.7)
    x = torch.randn(base.n_nodes, 4)
    ref = dropped @ x
    for backend in ("torch_sparse", "torch_scatter", "index_add"):
        g = Graph(r, backend=backend)
        torch.manual_seed(3)
        torch.testing.assert_close(g.adj().drop_edges(0.7) @ x, ref, rtol=1e-5, atol=1e-6)


def test_edge_dropout_keeps_symmetry_and_rate():
    g, _ = _random_graph()
    torch.manual_seed(0)
    adj = g.adj()
    assert adj.drop_edges(1.0) is adj
    d = adj.drop_edges(0.5)
    dense = d.dense()
    torch.testing.assert_close(dense, dense.T)
    full = adj.dense()
    assert 0.35 < (dense != 0).sum() / (full != 0).sum() < 0.65
    kept_share = (adj.drop_edges(0.8).dense() != 0).sum() / (full != 0).sum()
    assert 0.7 < kept_share < 0.9  # keep_rate is the share kept, not the share dropped
    # kept entries keep their normalised values (no re-normalisation)
    kept = dense != 0
    torch.testing.assert_close(dense[kept], full[kept])
    # the product is the dense product of the kept entries, value and gradient (A symmetric: A^T g = A g)
    x = torch.randn(g.n_nodes, 3, requires_grad=True)
    w = torch.randn(g.n_nodes, 3)
    (d @ x * w).sum().backward()
    torch.testing.assert_close(x.grad, dense.T @ w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", ["torch", "index_add"])
def test_entry_dropout_drops_directions_independently_and_back_propagates_the_transpose(backend):
    g, _ = _random_graph(backend)
    torch.manual_seed(1)
    adj = g.adj()
    d = adj.drop_edges(0.5, unit="entries")
    dense, full = d.dense(), adj.dense()
    kept = dense != 0
    assert not torch.equal(kept, kept.T), "entries: the two directions of an edge are drawn independently"
    assert 0.35 < kept.sum() / (full != 0).sum() < 0.65
    torch.testing.assert_close(dense[kept], full[kept])
    x = torch.randn(g.n_nodes, 3, requires_grad=True)
    w = torch.randn(g.n_nodes, 3)
    out = d @ x
    (out * w).sum().backward()
    torch.testing.assert_close(out, dense @ x.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(x.grad, dense.T @ w, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="entries"):
        adj.drop_edges(0.5, unit="nodes")


def test_unknown_backend_is_rejected_with_choices():
    with pytest.raises(ValueError, match="index_add"):
        Graph(sp.csr_matrix(np.ones((2, 2))), backend="cusparse")
