"""Batched stiff solver for linear, time-dependent compartmental systems.

A numba-compiled Rodas4 (Hairer & Wanner 1996, *Solving ODEs II*, coefficients of ``rodas.f``
METH=1) integrates many subjects at once, one subject per thread task, each with its own
adaptive step. The factorization of ``I/(gamma h) - J`` uses a symbolic LU computed once from
the sparsity pattern of the model (organs ordered before blood keeps fill-in small), so a step
costs a few hundred flops instead of a dense ``O(n^3)`` factorization. Output at the requested
times is interpolated with the cubic Hermite polynomial of the step (third order, conserving
linear invariants such as total mass), so the integrator never has to stop at a sample.

Mass conservation: the columns of ``A(t)`` sum to zero, and a Rosenbrock method with the exact
Jacobian preserves every linear invariant to round-off, so the total amount stays at the dose.

The kernels are compiled with ``cache=True``; the first call in a fresh environment compiles
them (about 10-20 s) and later processes load them from ``__pycache__``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numba
import numpy as np
from numpy.typing import NDArray

from nanobridge.science.pbpk.model import LinearSystem

__all__ = ["SolverOptions", "SolverStats", "solve_linear_batch", "symbolic_lu"]


@dataclass(frozen=True)
class SolverOptions:
    """Tolerances of the batched solver (amounts are in fractions of the dose)."""

    rtol: float = 1e-6
    atol: float = 1e-10
    first_step_h: float = 1e-5
    max_steps: int = 200_000
    threads: int | None = None

    def __post_init__(self) -> None:
        if not (0 < self.rtol < 1):
            raise ValueError(f"rtol must be in (0, 1), got {self.rtol}")
        if not (self.atol > 0):
            raise ValueError(f"atol must be > 0, got {self.atol}")


@dataclass(frozen=True)
class SolverStats:
    accepted_steps: NDArray[np.int64]
    rejected_steps: NDArray[np.int64]


@dataclass(frozen=True)
class SymbolicLU:
    fill_rows: NDArray[np.int64]  # every (row, col) of the filled pattern, to zero per step
    fill_cols: NDArray[np.int64]
    div_i: NDArray[np.int64]
    div_k: NDArray[np.int64]
    upd_ptr: NDArray[np.int64]
    upd_j: NDArray[np.int64]
    low_ptr: NDArray[np.int64]
    low_j: NDArray[np.int64]
    up_ptr: NDArray[np.int64]
    up_j: NDArray[np.int64]


def symbolic_lu(n: int, rows: NDArray[np.int64], cols: NDArray[np.int64]) -> SymbolicLU:
    """Operation lists of an in-place LU without pivoting on the given pattern (+ diagonal).

    ``I/(gamma h) - J`` of a compartmental system is a column diagonally dominant M-matrix, so
    elimination without pivoting is stable.
    """
    nz = np.zeros((n, n), dtype=bool)
    nz[rows, cols] = True
    nz[np.arange(n), np.arange(n)] = True
    div_i: list[int] = []
    div_k: list[int] = []
    upd_ptr = [0]
    upd_j: list[int] = []
    for k in range(n):
        right = [j for j in range(k + 1, n) if nz[k, j]]
        for i in range(k + 1, n):
            if not nz[i, k]:
                continue
            div_i.append(i)
            div_k.append(k)
            for j in right:
                nz[i, j] = True  # fill-in
                upd_j.append(j)
            upd_ptr.append(len(upd_j))
    low_ptr, low_j, up_ptr, up_j = [0], [], [0], []
    for i in range(n):
        low_j += [j for j in range(i) if nz[i, j]]
        low_ptr.append(len(low_j))
        up_j += [j for j in range(i + 1, n) if nz[i, j]]
        up_ptr.append(len(up_j))
    fr, fc = np.nonzero(nz)
    as_i = lambda x: np.asarray(x, dtype=np.int64)  # noqa: E731
    return SymbolicLU(
        as_i(fr), as_i(fc), as_i(div_i), as_i(div_k), as_i(upd_ptr), as_i(upd_j),
        as_i(low_ptr), as_i(low_j), as_i(up_ptr), as_i(up_j),
    )  # fmt: skip


# Rodas4 coefficients (Hairer & Wanner, rodas.f, METH=1), in the form of Numerical Recipes'
# StepperRoss: the stages solve (I/(gam h) - J) k_i = f(t + c_i h, y + sum a_ij k_j)
#                                                    + h d_i df/dt + sum c_ij k_j / h.
_GAM = 0.25
_C2, _C3, _C4 = 0.386, 0.21, 0.63
_D1, _D2, _D3, _D4 = 0.25, -0.1043, 0.1035, -0.3620000000000023e-01
_A21 = 1.544
_A31, _A32 = 0.9466785280815826, 0.2557011698983284
_A41, _A42, _A43 = 3.314825187068521, 2.896124015972201, 0.9986419139977817
_A51, _A52, _A53, _A54 = (
    1.221224509226641,
    6.019134481288629,
    12.53708332932087,
    -0.6878860361058950,
)
_C21 = -5.6688
_C31, _C32 = -2.430093356833875, -0.2063599157091915
_C41, _C42, _C43 = -0.1073529058151375, -9.594562251023355, -20.47028614809616
_C51, _C52, _C53, _C54 = (
    7.496443313967647,
    -10.24680431464352,
    -33.99990352819905,
    11.70890893206160,
)
_C61, _C62, _C63, _C64, _C65 = (
    8.083246795921522, -7.981132988064893, -31.52159432874371, 16.31930543123136, -6.058818238834054,
)  # fmt: skip


@numba.njit(cache=True, fastmath=False)
def _hill(t: float, kmax: float, k50: float, n: float) -> tuple[float, float]:
    """Rate ``kmax t^n/(k50^n + t^n)`` and its time derivative."""
    if t <= 0.0:
        return 0.0, 0.0
    r = (t / k50) ** n
    if not np.isfinite(r):
        return kmax, 0.0
    u = kmax * r / (1.0 + r)
    du = kmax * n * r / (t * (1.0 + r) * (1.0 + r))
    return u, du


@numba.njit(cache=True)
def _rhs(t, y, vals, rows, cols, pc_src, pc_dst, hill, out):  # type: ignore[no-untyped-def]
    out[:] = 0.0
    for k in range(vals.size):
        out[rows[k]] += vals[k] * y[cols[k]]
    for j in range(pc_src.size):
        u, _ = _hill(t, hill[j, 0], hill[j, 1], hill[j, 2])
        flux = u * y[pc_src[j]]
        out[pc_src[j]] -= flux
        out[pc_dst[j]] += flux


@numba.njit(cache=True)
def _dfdt(t, y, pc_src, pc_dst, hill, out):  # type: ignore[no-untyped-def]
    out[:] = 0.0
    for j in range(pc_src.size):
        _, du = _hill(t, hill[j, 0], hill[j, 1], hill[j, 2])
        flux = du * y[pc_src[j]]
        out[pc_src[j]] -= flux
        out[pc_dst[j]] += flux


@numba.njit(cache=True)
def _solve(m, b, low_ptr, low_j, up_ptr, up_j):  # type: ignore[no-untyped-def]
    n = b.size
    for i in range(n):
        acc = b[i]
        for p in range(low_ptr[i], low_ptr[i + 1]):
            acc -= m[i, low_j[p]] * b[low_j[p]]
        b[i] = acc
    for i in range(n - 1, -1, -1):
        acc = b[i]
        for p in range(up_ptr[i], up_ptr[i + 1]):
            acc -= m[i, up_j[p]] * b[up_j[p]]
        b[i] = acc / m[i, i]


@numba.njit(cache=True)
def _factor(t, h, m, vals, rows, cols, pc_src, pc_dst, hill, lu):  # type: ignore[no-untyped-def]
    (fill_r, fill_c, div_i, div_k, upd_ptr, upd_j) = lu
    for p in range(fill_r.size):
        m[fill_r[p], fill_c[p]] = 0.0
    for k in range(vals.size):
        m[rows[k], cols[k]] -= vals[k]
    for j in range(pc_src.size):
        u, _ = _hill(t, hill[j, 0], hill[j, 1], hill[j, 2])
        m[pc_src[j], pc_src[j]] += u
        m[pc_dst[j], pc_src[j]] -= u
    inv = 1.0 / (_GAM * h)
    for i in range(m.shape[0]):
        m[i, i] += inv
    for d in range(div_i.size):
        i = div_i[d]
        k = div_k[d]
        m[i, k] /= m[k, k]
        lik = m[i, k]
        for p in range(upd_ptr[d], upd_ptr[d + 1]):
            j = upd_j[p]
            m[i, j] -= lik * m[k, j]


@numba.njit(cache=True)
def _integrate_one(  # type: ignore[no-untyped-def]
    vals, rows, cols, pc_src, pc_dst, hill, y0, t_out, group, out,
    lu, low_ptr, low_j, up_ptr, up_j, rtol, atol, h0, max_steps,
):  # fmt: skip
    n = y0.size
    m = np.zeros((n, n))
    y = y0.copy()
    f0 = np.empty(n)
    f1 = np.empty(n)
    ft = np.empty(n)
    dfdt = np.empty(n)
    yt = np.empty(n)
    ynew = np.empty(n)
    k1 = np.empty(n)
    k2 = np.empty(n)
    k3 = np.empty(n)
    k4 = np.empty(n)
    k5 = np.empty(n)
    err = np.empty(n)
    n_out = t_out.size
    t = 0.0
    t_end = t_out[n_out - 1]
    i_out = 0
    while i_out < n_out and t_out[i_out] <= 0.0:
        for s in range(n):
            if group[s] >= 0:
                out[i_out, group[s]] += y[s]
        i_out += 1
    h = min(h0, t_end) if t_end > 0 else h0
    _rhs(t, y, vals, rows, cols, pc_src, pc_dst, hill, f0)
    accepted = 0
    rejected = 0
    fac_max = 5.0
    while i_out < n_out:
        if accepted + rejected >= max_steps:
            return accepted, rejected, False
        if t + h > t_end:
            h = t_end - t
        # time derivative of f at a point inside the step (the Hill rate may be singular at 0)
        td = t if t > 0.01 * h else 0.01 * h
        _dfdt(td, y, pc_src, pc_dst, hill, dfdt)
        _factor(t, h, m, vals, rows, cols, pc_src, pc_dst, hill, lu)
        for i in range(n):
            k1[i] = f0[i] + h * _D1 * dfdt[i]
        _solve(m, k1, low_ptr, low_j, up_ptr, up_j)
        for i in range(n):
            yt[i] = y[i] + _A21 * k1[i]
        _rhs(t + _C2 * h, yt, vals, rows, cols, pc_src, pc_dst, hill, ft)
        for i in range(n):
            k2[i] = ft[i] + h * _D2 * dfdt[i] + _C21 * k1[i] / h
        _solve(m, k2, low_ptr, low_j, up_ptr, up_j)
        for i in range(n):
            yt[i] = y[i] + _A31 * k1[i] + _A32 * k2[i]
        _rhs(t + _C3 * h, yt, vals, rows, cols, pc_src, pc_dst, hill, ft)
        for i in range(n):
            k3[i] = ft[i] + h * _D3 * dfdt[i] + (_C31 * k1[i] + _C32 * k2[i]) / h
        _solve(m, k3, low_ptr, low_j, up_ptr, up_j)
        for i in range(n):
            yt[i] = y[i] + _A41 * k1[i] + _A42 * k2[i] + _A43 * k3[i]
        _rhs(t + _C4 * h, yt, vals, rows, cols, pc_src, pc_dst, hill, ft)
        for i in range(n):
            k4[i] = ft[i] + h * _D4 * dfdt[i] + (_C41 * k1[i] + _C42 * k2[i] + _C43 * k3[i]) / h
        _solve(m, k4, low_ptr, low_j, up_ptr, up_j)
        for i in range(n):
            yt[i] = y[i] + _A51 * k1[i] + _A52 * k2[i] + _A53 * k3[i] + _A54 * k4[i]
        _rhs(t + h, yt, vals, rows, cols, pc_src, pc_dst, hill, ft)
        for i in range(n):
            k5[i] = ft[i] + (_C51 * k1[i] + _C52 * k2[i] + _C53 * k3[i] + _C54 * k4[i]) / h
        _solve(m, k5, low_ptr, low_j, up_ptr, up_j)
        for i in range(n):
            yt[i] += k5[i]
        _rhs(t + h, yt, vals, rows, cols, pc_src, pc_dst, hill, ft)
        for i in range(n):
            err[i] = ft[i] + (_C61 * k1[i] + _C62 * k2[i] + _C63 * k3[i] + _C64 * k4[i] + _C65 * k5[i]) / h
        _solve(m, err, low_ptr, low_j, up_ptr, up_j)
        e2 = 0.0
        for i in range(n):
            ynew[i] = yt[i] + err[i]
            sc = atol + rtol * max(abs(y[i]), abs(ynew[i]))
            e2 += (err[i] / sc) ** 2
        e = np.sqrt(e2 / n)
        if e <= 1.0 or h < 1e-14:
            t_new = t + h
            _rhs(t_new, ynew, vals, rows, cols, pc_src, pc_dst, hill, f1)
            # cubic Hermite output on (t, t_new]
            while i_out < n_out and t_out[i_out] <= t_new * (1.0 + 1e-14):
                th = (t_out[i_out] - t) / h
                if th > 1.0:
                    th = 1.0
                h00 = (1.0 + 2.0 * th) * (1.0 - th) ** 2
                h10 = th * (1.0 - th) ** 2
                h01 = th * th * (3.0 - 2.0 * th)
                h11 = th * th * (th - 1.0)
                for s in range(n):
                    g = group[s]
                    if g >= 0:
                        out[i_out, g] += h00 * y[s] + h10 * h * f0[s] + h01 * ynew[s] + h11 * h * f1[s]
                i_out += 1
            t = t_new
            for i in range(n):
                y[i] = ynew[i]
                f0[i] = f1[i]
            accepted += 1
            fac = 0.9 * e ** (-0.25) if e > 0 else fac_max
            h = h * min(fac_max, max(0.2, fac))
            fac_max = 5.0
        else:
            rejected += 1
            h = h * max(0.2, 0.9 * e ** (-0.25))
            fac_max = 1.0
    return accepted, rejected, True


@numba.njit(cache=True, parallel=True)
def _integrate_batch(  # type: ignore[no-untyped-def]
    vals, rows, cols, pc_src, pc_dst, hill, y0, t_out, group, out, stats,
    lu, low_ptr, low_j, up_ptr, up_j, rtol, atol, h0, max_steps,
):  # fmt: skip
    n_sub = vals.shape[0]
    for s in numba.prange(n_sub):
        acc, rej, ok = _integrate_one(
            vals[s], rows, cols, pc_src, pc_dst, hill[s], y0[s], t_out, group, out[s],
            lu, low_ptr, low_j, up_ptr, up_j, rtol, atol, h0, max_steps,
        )  # fmt: skip
        stats[s, 0] = acc
        stats[s, 1] = rej
        stats[s, 2] = 1 if ok else 0


@lru_cache(maxsize=8)
def _symbolic_cached(n: int, rows_key: bytes, cols_key: bytes) -> SymbolicLU:
    rows = np.frombuffer(rows_key, dtype=np.int64)
    cols = np.frombuffer(cols_key, dtype=np.int64)
    return symbolic_lu(n, rows, cols)


def solve_linear_batch(
    system: LinearSystem,
    t_out_h: NDArray[np.float64],
    group_of_state: NDArray[np.int64],
    n_groups: int,
    options: SolverOptions | None = None,
    y0: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.float64], SolverStats]:
    """Integrate every subject of ``system`` and return grouped amounts ``(S, T, n_groups)``.

    Amounts are fractions of the dose (a unit bolus in ``system.dose_state`` unless ``y0`` is
    given). ``group_of_state[i]`` is the output column that state ``i`` adds to (-1: none).
    Raises ``RuntimeError`` naming the subjects whose integration exceeded ``max_steps``.
    """
    opts = options or SolverOptions()
    t_out = np.ascontiguousarray(np.asarray(t_out_h, dtype=float))
    if t_out.ndim != 1 or t_out.size == 0:
        raise ValueError("t_out_h must be a non-empty 1-D array of times [h]")
    if np.any(np.diff(t_out) <= 0) or t_out[0] < 0 or not np.all(np.isfinite(t_out)):
        raise ValueError("t_out_h must be finite, >= 0 and strictly increasing")
    s_count = system.n_subjects
    if y0 is None:
        y0 = np.zeros((s_count, system.n_states))
        y0[:, system.dose_state] = 1.0
    y0 = np.ascontiguousarray(np.broadcast_to(y0, (s_count, system.n_states)), dtype=float)
    sym = _symbolic_cached(
        system.n_states,
        np.ascontiguousarray(system.rows, dtype=np.int64).tobytes(),
        np.ascontiguousarray(system.cols, dtype=np.int64).tobytes(),
    )
    out = np.zeros((s_count, t_out.size, n_groups))
    stats = np.zeros((s_count, 3), dtype=np.int64)
    lu = (sym.fill_rows, sym.fill_cols, sym.div_i, sym.div_k, sym.upd_ptr, sym.upd_j)
    prev_threads = numba.get_num_threads()
    if opts.threads is not None:
        numba.set_num_threads(max(1, min(opts.threads, default_threads())))
    try:
        _integrate_batch(
            np.ascontiguousarray(system.values), system.rows, system.cols, system.pc_src,
            system.pc_dst, np.ascontiguousarray(system.hill), y0, t_out,
            np.ascontiguousarray(group_of_state, dtype=np.int64), out, stats, lu,
            sym.low_ptr, sym.low_j, sym.up_ptr, sym.up_j,
            float(opts.rtol), float(opts.atol), float(opts.first_step_h), int(opts.max_steps),
        )  # fmt: skip
    finally:
        numba.set_num_threads(prev_threads)
    failed = np.flatnonzero(stats[:, 2] == 0)
    if failed.size:
        raise RuntimeError(
            f"PBPK integration exceeded {opts.max_steps} steps for subject(s) {failed[:10].tolist()}"
            " — check their parameters for extreme values"
        )
    return out, SolverStats(stats[:, 0].copy(), stats[:, 1].copy())


def default_threads() -> int:
    """Threads numba may use (NUMBA_NUM_THREADS or the CPU count)."""
    return int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
