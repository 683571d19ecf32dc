"""Per-subject reference solvers for the PBPK model: scipy ``solve_ivp`` and libroadrunner (CVODE).

They integrate exactly the model that the batched numba solver
(:func:`nanobridge.science.pbpk.solver.solve_linear_batch`) integrates and serve as its
independent references in tests and benchmarks; they are one subject at a time and much slower.
Both return amounts per output group ``(T, len(OUTPUT_GROUPS))`` in fractions of the dose (or in
the SBML file's dose units), grouped with :data:`~nanobridge.science.pbpk.model.GROUP_OF_STATE`.

libroadrunner is an optional dependency, imported when first needed. A population is looped
without reloading (recompiling) the model::

    rr = RoadRunnerModel(to_sbml(params, bw), rtol=1e-6, atol=1e-12)   # compiles once
    system = build_system(population_params, population_bw)            # S subjects
    for s in range(system.n_subjects):
        amounts = rr.simulate(system, s, t_out_h)                      # resetAll + setValue

Per subject, :meth:`RoadRunnerModel.simulate` calls ``resetAll()`` (initial amounts, time 0, the
exported parameter values) and then ``setValue`` on every rate constant ``k_<src>_to_<dst>`` and
Hill parameter of that subject — taken from the same :class:`LinearSystem` as the numba solver.
:meth:`RoadRunnerModel.simulate_inputs` instead sets the published inputs (``QCC``, ``PATC``,
``BW``...) as ``init(...)`` values and lets ``resetAll()`` re-apply the model's initial
assignments, i.e. it runs the mechanistic SBML model itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.integrate import solve_ivp

from nanobridge.science.pbpk.model import GROUP_OF_STATE, OUTPUT_GROUPS, PC_ORGANS, STATE_NAMES, LinearSystem
from nanobridge.science.pbpk.sbml import hill_parameter_names, transfer_parameter_name

__all__ = ["RoadRunnerModel", "group_states", "simulate_roadrunner", "simulate_scipy"]

_IMPLICIT = ("Radau", "BDF", "LSODA")


def group_states(
    states: NDArray[np.float64],
    group_of_state: NDArray[np.int64] = GROUP_OF_STATE,
    n_groups: int = len(OUTPUT_GROUPS),
) -> NDArray[np.float64]:
    """Sum state amounts ``(T, n_states)`` into output groups ``(T, n_groups)``."""
    out = np.zeros((states.shape[0], n_groups))
    for i, g in enumerate(group_of_state):
        if g >= 0:
            out[:, g] += states[:, i]
    return out


def _times(t_out_h: ArrayLike) -> NDArray[np.float64]:
    t = np.asarray(t_out_h, dtype=float)
    if t.ndim != 1 or t.size == 0 or t[0] < 0 or np.any(np.diff(t) <= 0) or not np.all(np.isfinite(t)):
        raise ValueError(
            "t_out_h must be a non-empty, finite, strictly increasing 1-D array of times >= 0 [h]"
        )
    return t


def simulate_scipy(
    system: LinearSystem,
    s: int,
    t_out_h: ArrayLike,
    method: str = "LSODA",
    rtol: float = 1e-6,
    atol: float = 1e-12,
    *,
    group_of_state: NDArray[np.int64] = GROUP_OF_STATE,
    n_groups: int = len(OUTPUT_GROUPS),
    return_states: bool = False,
) -> NDArray[np.float64]:
    """Subject ``s`` of ``system`` by :func:`scipy.integrate.solve_ivp`: amounts ``(T, n_groups)``.

    The right-hand side is ``A(t) y`` with the constant part as a dense matrix (29 states: a
    dense product is faster than a sparse one at this size) plus the vectorized Hill uptake;
    implicit methods (Radau, BDF, LSODA) get the exact Jacobian ``A(t)``. ``return_states``
    gives the ungrouped states ``(T, n_states)`` instead.
    """
    if not 0 <= s < system.n_subjects:
        raise IndexError(f"subject index {s} out of range for {system.n_subjects} subjects")
    t = _times(t_out_h)
    a0 = system.dense_A0(s)
    src, dst = system.pc_src, system.pc_dst
    kmax, k50, n_hill = (np.ascontiguousarray(system.hill[s, :, i]) for i in range(3))

    def uptake(t_h: float) -> NDArray[np.float64]:
        if t_h <= 0.0:
            return np.zeros_like(kmax)
        with np.errstate(over="ignore"):
            r = (t_h / k50) ** n_hill
        return np.where(np.isfinite(r), kmax * r / (1.0 + r), kmax)

    def rhs(t_h: float, y: NDArray[np.float64]) -> NDArray[np.float64]:
        dy = a0 @ y
        flux = uptake(t_h) * y[src]
        dy[src] -= flux  # each PC has its own source and destination: no repeated indices
        dy[dst] += flux
        return dy

    def jac(t_h: float, y: NDArray[np.float64]) -> NDArray[np.float64]:
        a = a0.copy()
        u = uptake(t_h)
        a[src, src] -= u
        a[dst, src] += u
        return a

    y0 = np.zeros(system.n_states)
    y0[system.dose_state] = 1.0
    kwargs: dict[str, Any] = {"jac": jac} if method in _IMPLICIT else {}
    sol = solve_ivp(rhs, (0.0, float(t[-1])), y0, method=method, t_eval=t, rtol=rtol, atol=atol, **kwargs)
    if not sol.success:
        raise RuntimeError(f"solve_ivp ({method}) failed for subject {s}: {sol.message}")
    states = np.ascontiguousarray(sol.y.T)
    return states if return_states else group_states(states, group_of_state, n_groups)


def _import_roadrunner() -> Any:
    try:
        import roadrunner
    except ImportError as exc:
        raise ImportError(
            "libroadrunner is needed for the roadrunner reference solver but is not installed; "
            "install it with `pip install libroadrunner` (it is part of nanobridge's `dev` extra)"
        ) from exc
    return roadrunner


class RoadRunnerModel:
    """One compiled libroadrunner instance of an exported SBML model, re-parameterized per subject.

    ``rtol``/``atol`` are CVODE's tolerances (amounts in the file's dose units).
    """

    def __init__(
        self, sbml: str, rtol: float = 1e-6, atol: float = 1e-12, *, max_steps: int = 100_000
    ) -> None:
        roadrunner = _import_roadrunner()
        roadrunner.Logger.setLevel(roadrunner.Logger.LOG_ERROR)
        self._rr = roadrunner.RoadRunner(sbml)
        integrator = self._rr.getIntegrator()
        integrator.setValue("relative_tolerance", float(rtol))
        integrator.setValue("absolute_tolerance", float(atol))
        integrator.setValue("maximum_num_steps", int(max_steps))
        self._rr.timeCourseSelections = ["time", *STATE_NAMES]  # amounts (no brackets)
        self._parameter_ids = frozenset(self._rr.model.getGlobalParameterIds())
        self._rate_ids: dict[tuple[int, int], str] | None = None

    @property
    def roadrunner(self) -> Any:
        """The underlying ``roadrunner.RoadRunner``."""
        return self._rr

    def _run(self, t: NDArray[np.float64]) -> NDArray[np.float64]:
        result = self._rr.simulate(times=t.tolist())
        return np.asarray(result)[:, 1:]

    def _rates_of(self, system: LinearSystem) -> dict[tuple[int, int], str]:
        if self._rate_ids is None:
            ids: dict[tuple[int, int], str] = {}
            uptake = set(zip(system.pc_dst.tolist(), system.pc_src.tolist(), strict=True))
            for dst, src in zip(system.rows.tolist(), system.cols.tolist(), strict=True):
                if dst == src or (dst, src) in uptake:
                    continue  # diagonal (implied by the reactions) or the uptake's reserved slot
                pid = transfer_parameter_name(STATE_NAMES[src], STATE_NAMES[dst])
                if pid not in self._parameter_ids:
                    raise ValueError(f"the SBML model has no rate constant '{pid}': export it with to_sbml")
                ids[(dst, src)] = pid
            self._rate_ids = ids
        return self._rate_ids

    def simulate(
        self, system: LinearSystem, s: int, t_out_h: ArrayLike, *, return_states: bool = False
    ) -> NDArray[np.float64]:
        """Subject ``s`` of ``system`` (rate constants set from it): amounts ``(T, n_groups)``."""
        t = _times(t_out_h)
        rr = self._rr
        rr.resetAll()  # initial amounts and time 0; parameters set below stay in force for this run
        rates = self._rates_of(system)
        a0 = system.values[s]
        for k, (dst, src) in enumerate(zip(system.rows.tolist(), system.cols.tolist(), strict=True)):
            pid = rates.get((dst, src))
            if pid is not None:
                rr.setValue(pid, float(a0[k]))
        for j, organ in enumerate(PC_ORGANS):
            if system.pc_dst[j] != STATE_NAMES.index(f"{organ}_pc"):
                raise ValueError("the system's phagocytic-cell order differs from PC_ORGANS")
            for pid, value in zip(hill_parameter_names(organ), system.hill[s, j], strict=True):
                rr.setValue(pid, float(value))
        rr.setValue(STATE_NAMES[system.dose_state], 1.0)  # a unit dose, as the numba solver
        states = self._run(t)
        return states if return_states else group_states(states)

    def simulate_inputs(
        self, inputs: Mapping[str, float], t_out_h: ArrayLike, *, return_states: bool = False
    ) -> NDArray[np.float64]:
        """Run the mechanistic model with the given published inputs (``QCC``, ``BW``, ``dose``...).

        Inputs not given keep the values the file was exported with.
        """
        t = _times(t_out_h)
        rr = self._rr
        for key, value in inputs.items():
            if key not in self._parameter_ids:
                raise KeyError(f"'{key}' is not a parameter of the SBML model")
            rr.setValue(f"init({key})", float(value))
        rr.resetAll()  # re-applies the initial assignments (flows, volumes, rate constants)
        states = self._run(t)
        return states if return_states else group_states(states)


def simulate_roadrunner(
    sbml: str,
    t_out_h: ArrayLike,
    rtol: float = 1e-6,
    atol: float = 1e-12,
    *,
    return_states: bool = False,
) -> NDArray[np.float64]:
    """Load an SBML model in libroadrunner (CVODE) and simulate it: amounts ``(T, n_groups)``.

    For many subjects, build one :class:`RoadRunnerModel` and call its ``simulate`` per subject.
    Raises ``ImportError`` with install instructions when libroadrunner is absent.
    """
    model = RoadRunnerModel(sbml, rtol, atol)
    t = _times(t_out_h)
    model.roadrunner.resetAll()
    states = model._run(t)
    return states if return_states else group_states(states)
