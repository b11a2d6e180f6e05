"""The user-item graph of graph CF: normalised adjacency, propagation, edge dropout.

Nodes are users ``0..n_users-1`` followed by items ``n_users..n_users+n_items-1``. The adjacency is the
symmetric bipartite matrix ``A = [[0, R], [R^T, 0]]`` (optionally ``+ I``), normalised as
``D^-1/2 A D^-1/2`` (LightGCN eq. 7; RLMRec's data handler does the same). It is kept as COO
``(row, col, value)`` tensors on the device; :meth:`Graph.propagate` computes ``A_hat @ X`` with one of

* ``"torch"`` (default): ``torch.sparse.mm`` on a CSR matrix (pure PyTorch);
* ``"index_add"``: gather + ``index_add_`` (pure PyTorch, no sparse kernels);
* ``"torch_sparse"``: ``torch_sparse.spmm`` (optional extension, extra ``pyg``);
* ``"torch_scatter"``: gather + ``torch_scatter.scatter_add`` (optional extension, extra ``pyg``).

All four give the same numbers (``tests/cf/test_graph.py``) and all are differentiable in ``X``.
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

BACKENDS = ("torch", "index_add", "torch_sparse", "torch_scatter")


def backend_available(backend: str) -> bool:
    """Whether a propagation backend can run here (the optional ones need their extension installed)."""
    if backend in ("torch", "index_add"):
        return True
    if backend in ("torch_sparse", "torch_scatter"):
        return importlib.util.find_spec(backend) is not None
    return False


def normalized_adjacency(train: sp.spmatrix, self_loops: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """COO arrays ``(row, col, value)`` of ``D^-1/2 (A [+ I]) D^-1/2`` for a binary users x items matrix.

    Degrees count the self-loop when ``self_loops`` is set (GCCF / NGCF-style ``A + I``); isolated
    nodes get degree 0 and no entries (their inverse square root is taken as 0, as in RLMRec)."""
    coo = sp.coo_matrix(train)
    n_users, n_items = coo.shape
    keep = coo.data != 0
    u = coo.row[keep].astype(np.int64)
    i = coo.col[keep].astype(np.int64) + n_users
    pairs = np.unique(np.stack([u, i]), axis=1)  # binarise duplicates
    rows = np.concatenate([pairs[0], pairs[1]])
    cols = np.concatenate([pairs[1], pairs[0]])
    n = n_users + n_items
    if self_loops:
        loop = np.arange(n, dtype=np.int64)
        rows, cols = np.concatenate([rows, loop]), np.concatenate([cols, loop])
    deg = np.bincount(rows, minlength=n).astype(np.float64)
    with np.errstate(divide="ignore"):
        inv = np.where(deg > 0, deg ** -0.5, 0.0)
    vals = (inv[rows] * inv[cols]).astype(np.float32)
    order = np.lexsort((cols, rows))
    return rows[order], cols[order], vals[order]


def edge_ids(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """An id per undirected edge: entries (r, c) and (c, r) share one id."""
    lo, hi = np.minimum(rows, cols), np.maximum(rows, cols)
    _, ids = np.unique(lo * (int(max(rows.max(initial=0), cols.max(initial=0))) + 1) + hi, return_inverse=True)
    return ids.astype(np.int64)


def spmm(rows: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor, n: int, x: torch.Tensor,
         backend: str = "torch", csr: torch.Tensor | None = None) -> torch.Tensor:
    """``A @ x`` for the ``n x n`` sparse matrix given by COO tensors; ``csr`` (same matrix) is reused if given."""
    if backend == "torch":
        mat = csr if csr is not None else torch.sparse_coo_tensor(torch.stack([rows, cols]), vals, (n, n)).coalesce()
        return torch.sparse.mm(mat, x)
    if backend == "index_add":
        out = torch.zeros(n, x.shape[1], dtype=x.dtype, device=x.device)
        return out.index_add(0, rows, x[cols] * vals[:, None])
    if backend == "torch_sparse":
        import torch_sparse

        return torch_sparse.spmm(torch.stack([rows, cols]), vals, n, n, x)
    if backend == "torch_scatter":
        import torch_scatter

        return torch_scatter.scatter_add(x[cols] * vals[:, None], rows, dim=0, dim_size=n)
    raise ValueError(f"graph backend {backend!r} is unknown; choose one of {BACKENDS}")


class _SymmetricSpMM(torch.autograd.Function):
    """``A @ x`` for a symmetric sparse CSR ``A``; the gradient is ``A^T g = A g`` (no transpose needed)."""

    @staticmethod
    def forward(ctx, mat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        ctx.mat = mat
        return torch.sparse.mm(mat, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        return None, torch.sparse.mm(ctx.mat, grad.contiguous())


class _SpMM(torch.autograd.Function):
    """``A @ x`` for a sparse CSR ``A`` whose transpose ``A^T`` is given as a CSR too (gradient ``A^T g``)."""

    @staticmethod
    def forward(ctx, mat: torch.Tensor, mat_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        ctx.mat_t = mat_t
        return torch.sparse.mm(mat, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        return None, None, torch.sparse.mm(ctx.mat_t, grad.contiguous())


def _csr(rows: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor, n: int) -> torch.Tensor:
    """CSR from COO arrays already sorted by (row, col); 32-bit indices when they fit (the CPU sparse kernels
    convert 64-bit indices to 32-bit on every product otherwise)."""
    crow = torch.zeros(n + 1, dtype=torch.int64, device=rows.device)
    crow[1:] = torch.cumsum(torch.bincount(rows, minlength=n), 0)
    if max(n, cols.numel()) < 2**31 - 1:
        crow, cols = crow.to(torch.int32), cols.to(torch.int32)
    return csr_like(crow, cols, vals, n)


def csr_like(crow: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor, n: int) -> torch.Tensor:
    """An ``n x n`` CSR tensor from given row pointers, column indices and values (no checks, no copies)."""
    with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta state"
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, cols, vals, (n, n), check_invariants=False)


def transpose_index(rows: torch.Tensor, cols: torch.Tensor, n: int) -> torch.Tensor:
    """For entries sorted by (row, col) of a matrix with a symmetric pattern: the position of each entry's
    transpose ``(col, row)`` (so ``vals[transpose_index]`` are the values of ``A^T`` in the same order)."""
    key_t = cols * n + rows
    return torch.searchsorted(rows * n + cols, key_t)


EDGE_DROP = ("edges", "entries")


@dataclass
class Adjacency:
    """One (possibly edge-dropped) normalised adjacency on the device, ready for propagation.

    Entries are sorted by (row, col); ``edge_ids`` gives each entry its undirected edge. Edge dropout
    keeps the sparsity pattern and zeroes the dropped values (no selection, no CSR rebuild, no host sync;
    adding exact zeros leaves every product unchanged). ``values_t`` (set when the values are not
    symmetric) holds the values of ``A^T`` in the same entry order, for the backward pass."""

    rows: torch.Tensor
    cols: torch.Tensor
    vals: torch.Tensor
    n: int
    backend: str = "torch"
    edge_ids: torch.Tensor | None = None
    n_edges: int | None = None
    values_t: torch.Tensor | None = None
    _csr: torch.Tensor | None = None
    _csr_t: torch.Tensor | None = None
    _transpose: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.backend == "torch" and self._csr is None:
            self._csr = _csr(self.rows, self.cols, self.vals, self.n)
        if self.backend == "torch" and self.values_t is not None and self._csr_t is None:
            self._csr_t = csr_like(self._csr.crow_indices(), self._csr.col_indices(), self.values_t, self.n)

    @property
    def nnz(self) -> int:
        """Stored entries (dropped edges stay stored with value 0)."""
        return int(self.rows.numel())

    @property
    def symmetric(self) -> bool:
        return self.values_t is None

    def __matmul__(self, x: torch.Tensor) -> torch.Tensor:
        if self.backend == "torch":
            if self._csr_t is not None:
                return _SpMM.apply(self._csr, self._csr_t, x)
            return _SymmetricSpMM.apply(self._csr, x)
        if self.values_t is not None:
            return _COOSpMM.apply(self, x)
        return spmm(self.rows, self.cols, self.vals, self.n, x, self.backend)

    def with_values(self, vals: torch.Tensor, values_t: torch.Tensor | None = None) -> Adjacency:
        """The same sparsity pattern with new values (``values_t``: those of the transpose, if not symmetric)."""
        csr = csr_t = None
        if self.backend == "torch":
            crow, col = self._csr.crow_indices(), self._csr.col_indices()
            csr = csr_like(crow, col, vals, self.n)
            csr_t = None if values_t is None else csr_like(crow, col, values_t, self.n)
        return Adjacency(self.rows, self.cols, vals, self.n, self.backend, self.edge_ids, self.n_edges, values_t,
                         csr, csr_t, self._transpose)

    def drop_edges(self, keep_rate: float, generator: torch.Generator | None = None, unit: str = "edges") -> Adjacency:
        """Keep each edge with probability ``keep_rate``; values unchanged, no re-normalisation (as SSLRec's
        ``SpAdjEdgeDrop``). ``unit="edges"``: both entries of an undirected edge are kept or dropped together
        (the matrix stays symmetric, as in SGL's paper); ``unit="entries"``: every entry of the normalised
        adjacency independently, as SSLRec/RLMRec do. ``keep_rate >= 1`` returns ``self``."""
        if unit not in EDGE_DROP:
            raise ValueError(f"edge_drop={unit!r} is unknown; choose one of {EDGE_DROP}")
        if keep_rate >= 1.0:
            return self
        device = self.vals.device
        if unit == "entries":
            keep = torch.rand(self.nnz, device=device, generator=generator) < keep_rate
            vals = self.vals * keep
            if self._transpose is None:
                self._transpose = transpose_index(self.rows, self.cols, self.n)
            return self.with_values(vals, vals[self._transpose])
        if self.edge_ids is None or self.n_edges is None:
            raise ValueError("this adjacency has no edge ids; build it with Graph.adj()")
        keep_edge = torch.rand(self.n_edges, device=device, generator=generator) < keep_rate
        return self.with_values(self.vals * keep_edge[self.edge_ids])

    def dense(self) -> torch.Tensor:
        out = torch.zeros(self.n, self.n, dtype=self.vals.dtype, device=self.vals.device)
        out[self.rows, self.cols] = self.vals
        return out


class _COOSpMM(torch.autograd.Function):
    """``A @ x`` with the non-``torch`` backends for an adjacency whose values are not symmetric; gradient
    ``A^T g`` from the transposed values (no gradient to the values: dropout masks are constants)."""

    @staticmethod
    def forward(ctx, adj: Adjacency, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        ctx.adj = adj
        return spmm(adj.rows, adj.cols, adj.vals, adj.n, x, adj.backend)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        a = ctx.adj
        return None, spmm(a.rows, a.cols, a.values_t, a.n, grad.contiguous(), a.backend)


class Graph:
    """The training graph of one dataset: sizes, training edges and normalised adjacencies on the device.

    ``adj(self_loops=False)`` is the LightGCN adjacency; ``adj(self_loops=True)`` adds ``I`` before
    normalising (GCCF). Both are built once and cached.
    """

    def __init__(self, train: sp.spmatrix, device: torch.device | str = "cpu", backend: str = "torch") -> None:
        if backend not in BACKENDS:
            raise ValueError(f"GRAPH_BACKEND={backend!r} is unknown; choose one of {BACKENDS}")
        if not backend_available(backend):
            raise ImportError(f"GRAPH_BACKEND={backend!r} needs the {backend} package (pip install "
                              f"'lmrec[pyg]' from the PyG wheel index); or use GRAPH_BACKEND='torch'")
        self.train = sp.csr_matrix(train)
        self.n_users, self.n_items = self.train.shape
        self.n_nodes = self.n_users + self.n_items
        self.device = torch.device(device)
        self.backend = backend
        coo = self.train.tocoo()
        self.train_users = torch.as_tensor(coo.row.astype(np.int64), device=self.device)
        self.train_items = torch.as_tensor(coo.col.astype(np.int64), device=self.device)
        self._adj: dict[bool, Adjacency] = {}

    @property
    def n_train(self) -> int:
        return int(self.train_users.numel())

    def adj(self, self_loops: bool = False) -> Adjacency:
        """The normalised adjacency (cached per ``self_loops``)."""
        if self_loops not in self._adj:
            r, c, v = normalized_adjacency(self.train, self_loops)
            eid = edge_ids(r, c)
            t = lambda a: torch.as_tensor(a, device=self.device)  # noqa: E731
            n_edges = int(eid.max()) + 1 if eid.size else 0
            self._adj[self_loops] = Adjacency(t(r), t(c), t(v), self.n_nodes, self.backend, t(eid), n_edges)
        return self._adj[self_loops]

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Node matrix -> (user rows, item rows)."""
        return x[: self.n_users], x[self.n_users:]
