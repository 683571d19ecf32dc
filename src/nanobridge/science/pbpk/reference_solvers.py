"""Per-subject reference solvers for the PBPK model: scipy ``solve_ivp`` and libroadrunner.

They integrate exactly the same model as the batched numba solver and serve as its references
in tests and benchmarks. libroadrunner is an optional dependency (``pip install
libroadrunner``); it is imported when first needed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.integrate import solve_ivp
from scipy.sparse import csr_matrix

from nanobridge.science.pbpk.model import PC_ORGANS, STATE_NAMES, LinearSystem, hill_rate
from nanobridge.science.pbpk.sbml import hill_parameter_names, transfer_parameter_name

__all__ = ["RoadRunnerModel", "group_states", "simulate_scipy"]


def group_states(
    states: NDArray[np.float64], group_of_state: NDArray[np.int64], n_groups: int
) -> NDArray[np.float64]:
    """Sum states ``(T, n_states)`` into output groups ``(T, n_groups)``."""
    out = np.zeros((states.shape[0], n_groups))
    for i, g in enumerate(group_of_state):
        if g >= 0:
            out[:, g] += states[:, i]
    return out


def simulate_scipy(
    system: LinearSystem,
    s: int,
    t_out_h: NDArray[np.float64],
    *,
    method: str = "LSODA",
    rtol: float = 1e-6,
    atol: float = 1e-12,
) -> NDArray[np.float64]:
    """States ``(T, n_states)`` of subject ``s`` (fractions of the dose) by ``solve_ivp``.

    The right-hand side is a sparse matrix-vector product plus the time-dependent uptake;
    implicit methods get the exact Jacobian ``A(t)``.
    """
    a0 = csr_matrix(system.dense_A0(s))
    src, dst, hill = system.pc_src, system.pc_dst, system.hill[s]

    def rhs(t: float, y: NDArray[np.float64]) -> NDArray[np.float64]:
        dy = a0 @ y
        for j in range(src.size):
            flux = hill_rate(t, *hill[j]) * y[src[j]]
            dy[src[j]] -= flux
            dy[dst[j]] += flux
        return np.asarray(dy)

    def jac(t: float, y: NDArray[np.float64]) -> NDArray[np.float64]:
        return system.dense_matrix(s, t)

    y0 = np.zeros(system.n_states)
    y0[system.dose_state] = 1.0
    t = np.asarray(t_out_h, dtype=float)
    kwargs: dict[str, Any] = {"jac": jac} if method in ("Radau", "BDF", "LSODA") else {}
    sol = solve_ivp(rhs, (0.0, float(t[-1])), y0, method=method, t_eval=t, rtol=rtol, atol=atol, **kwargs)
    if not sol.success:
        raise RuntimeError(f"solve_ivp ({method}) failed for subject {s}: {sol.message}")
    return np.asarray(sol.y.T)


class RoadRunnerModel:
    """A libroadrunner instance of the exported SBML, re-parameterized per subject.

    The model is compiled once; :meth:`simulate` sets subject ``s``'s rate constants and Hill
    parameters with ``setValue`` and resets the state, so a population loop never reloads it.
    """

    def __init__(self, sbml_text: str, *, rtol: float = 1e-6, atol: float = 1e-12) -> None:
        try:
            import roadrunner
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "libroadrunner is not installed: `pip install libroadrunner` (a dev dependency of nanobridge)"
            ) from exc
        roadrunner.Logger.setLevel(roadrunner.Logger.LOG_ERROR)
        self._rr = roadrunner.RoadRunner(sbml_text)
        integrator = self._rr.getIntegrator()
        integrator.setValue("relative_tolerance", rtol)
        integrator.setValue("absolute_tolerance", atol)
        self._rr.timeCourseSelections = ["time", *[f"[{n}]" for n in STATE_NAMES]]
        self._param_ids = set(self._rr.model.getGlobalParameterIds())

    def simulate(self, system: LinearSystem, s: int, t_out_h: NDArray[np.float64]) -> NDArray[np.float64]:
        """States ``(T, n_states)`` of subject ``s`` (fractions of the dose)."""
        rr = self._rr
        rr.resetAll()
        values = system.values[s]
        for k in range(values.size):
            dst, src = int(system.rows[k]), int(system.cols[k])
            if dst == src:
                continue
            pid = transfer_parameter_name(STATE_NAMES[src], STATE_NAMES[dst])
            if pid in self._param_ids:
                rr.setValue(pid, float(values[k]))
            elif values[k] != 0.0:
                raise ValueError(
                    f"the SBML model has no transfer {pid}; export it from a system of this shape"
                )
        for j, organ in enumerate(PC_ORGANS):
            for pid, value in zip(hill_parameter_names(organ), system.hill[s, j], strict=True):
                rr.setValue(pid, float(value))
        # resetAll() restored the initial amounts (the dose in venous plasma); parameters set
        # after it stay in force for this run.
        t = np.asarray(t_out_h, dtype=float)
        result = rr.simulate(times=t.tolist()) if t[0] == 0.0 else rr.simulate(0.0, float(t[-1]), t.size)
        return np.asarray(result)[:, 1:]
