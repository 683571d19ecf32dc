"""Structure of the tumour-bearing nanoparticle PBPK model as a linear compartmental system.

The model is that of Cheng et al. 2020 (ACS Nano 14:3075) built on Lin et al. 2016
(Nanotoxicology 10:162): arterial and venous plasma; lung, heart, brain, muscle, kidney,
spleen, liver, rest of body and tumour, each with a capillary-blood and a tissue
sub-compartment joined by permeability-limited exchange; phagocytic cells (PCs) in lung,
muscle, kidney, spleen, liver, rest of body and tumour with a time-dependent (Hill in time),
saturating uptake rate and first-order release; urinary excretion from kidney capillary blood
and biliary excretion from liver tissue.

Two documented departures from the authors' reference code (mrgsolve, UFPBPK/Nano-AI-PBPK-G1):

1. **Venous return of the liver.** The liver receives hepatic-artery blood (QL) *and* the
   splenic outflow (QS), but the reference code returns only ``QL * CVL`` to the veins, so a
   flow QS disappears from the circulation (and the venous inflow is QC - QS while the lung
   receives QC). Here the liver returns ``(QL + QS) * CVL``: every flow that enters a
   compartment leaves it, and cardiac output is conserved.
2. **Uptake evaluated in continuous time.** The reference code computes the Hill uptake rate
   ``K(t) = Kmax t^n / (K50^n + t^n)`` in mrgsolve's ``$MAIN`` block, which is evaluated at
   the records of the output grid only, so the rate is piecewise constant on that grid and the
   result depends on the output spacing. Here ``K(t)`` is evaluated at every time the
   integrator asks for, so the solution does not depend on where it is sampled.

Every transfer is written as a first-order flux from one compartment to another
(:meth:`LinearSystemBuilder.transfer`), so the total amount (body + excreta) is conserved by
construction: the columns of the system matrix sum to zero.

The system is ``dy/dt = (A0 + sum_k u_k(t) E_k) y`` where ``A0`` holds flows, exchange,
release and excretion, and each ``E_k`` moves amount from a PC's source compartment into the
PC at the Hill rate ``u_k(t)``. States are ordered organs first and blood last, so that the
LU factorization of ``I/(gamma h) - J`` has almost no fill-in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "EXCRETA",
    "LYMPHATIC_GROUPS",
    "LYMPHATIC_MASS_KEYS",
    "LYMPHATIC_OUTPUT_GROUPS",
    "LYMPHATIC_STATE_NAMES",
    "LYMPHATIC_TRANSFERS",
    "ORGANS",
    "OUTPUT_GROUPS",
    "PC_ORGANS",
    "STATE_NAMES",
    "LinearSystem",
    "build_lymphatic_system",
    "build_system",
    "derived_volumes_and_flows",
]

#: Organs in output order (blood is the plasma of the arterial and venous pools).
ORGANS: tuple[str, ...] = (
    "blood",
    "lung",
    "heart",
    "brain",
    "muscle",
    "kidney",
    "spleen",
    "liver",
    "rest_of_body",
    "tumor",
)
EXCRETA: tuple[str, ...] = ("urine", "feces")
OUTPUT_GROUPS: tuple[str, ...] = ORGANS + EXCRETA

# Organ key -> parameter-name stem used by the published code (QXC, VXC, BVX, PX, PAXC, KXRES*)
_STEM: dict[str, str] = {
    "lung": "Lu",
    "heart": "H",
    "brain": "Br",
    "muscle": "M",
    "kidney": "K",
    "spleen": "S",
    "liver": "L",
    "rest_of_body": "R",
    "tumor": "T",
}
#: Organs with a phagocytic-cell sub-compartment.
PC_ORGANS: tuple[str, ...] = (
    "lung",
    "muscle",
    "kidney",
    "spleen",
    "liver",
    "rest_of_body",
    "tumor",
)
#: Organs with capillary blood and tissue sub-compartments (every organ but the plasma pools).
_TISSUE_ORGANS: tuple[str, ...] = tuple(_STEM)
assert ORGANS[1:] == _TISSUE_ORGANS


def _state_names() -> tuple[str, ...]:
    names: list[str] = []
    for organ in _TISSUE_ORGANS:
        names += [f"{organ}_blood", f"{organ}_tissue"]
        if organ in PC_ORGANS:
            names.append(f"{organ}_pc")
    names += ["urine", "feces", "arterial_plasma", "venous_plasma"]
    return tuple(names)


#: State vector layout: organs first (blood, tissue, PC), excreta, then the plasma pools.
STATE_NAMES: tuple[str, ...] = _state_names()
_IDX: dict[str, int] = {name: i for i, name in enumerate(STATE_NAMES)}


def _group_of_state() -> NDArray[np.int64]:
    group = np.empty(len(STATE_NAMES), dtype=np.int64)
    for i, name in enumerate(STATE_NAMES):
        if name in ("arterial_plasma", "venous_plasma"):
            group[i] = OUTPUT_GROUPS.index("blood")
        elif name in EXCRETA:
            group[i] = OUTPUT_GROUPS.index(name)
        else:
            organ = name.rsplit("_", 1)[0]
            group[i] = OUTPUT_GROUPS.index(organ)
    return group


#: Output group (index into OUTPUT_GROUPS) of each state.
GROUP_OF_STATE: NDArray[np.int64] = _group_of_state()

# -- interstitial (lymphatic) routes -----------------------------------------------------------
#: Output groups added by an interstitial injection (subcutaneous, intradermal, peritumoral):
#: the depot at the injection site and the first (sentinel) and second-echelon lymph nodes.
LYMPHATIC_GROUPS: tuple[str, ...] = ("injection_site", "lymph_node_1", "lymph_node_2")
#: Output groups of a model with the lymphatic route: organs, depot and nodes, excreta.
LYMPHATIC_OUTPUT_GROUPS: tuple[str, ...] = ORGANS + LYMPHATIC_GROUPS + EXCRETA
#: States added by the lymphatic route. ``lymph_node_k`` is the free (sinus) content of node k
#: including the afferent lymph on its way in; ``lymph_node_k_pc`` what its macrophages hold.
_LYMPHATIC_STATES: tuple[str, ...] = (
    "injection_site",
    "lymph_node_1",
    "lymph_node_1_pc",
    "lymph_node_2",
    "lymph_node_2_pc",
)
#: State layout with the lymphatic route: organs, depot and nodes, excreta, then plasma (blood
#: last keeps the LU fill-in small, see :mod:`nanobridge.science.pbpk.solver`).
LYMPHATIC_STATE_NAMES: tuple[str, ...] = STATE_NAMES[:-4] + _LYMPHATIC_STATES + STATE_NAMES[-4:]
_IDX_LYMPHATIC: dict[str, int] = {name: i for i, name in enumerate(LYMPHATIC_STATE_NAMES)}
#: The first-order transfers of the lymphatic route: (rate key [1/h], source state, target state).
LYMPHATIC_TRANSFERS: tuple[tuple[str, str, str], ...] = (
    ("k_depot_lymph_per_h", "injection_site", "lymph_node_1"),
    ("k_depot_blood_per_h", "injection_site", "venous_plasma"),
    ("k_node1_uptake_per_h", "lymph_node_1", "lymph_node_1_pc"),
    ("k_node1_release_per_h", "lymph_node_1_pc", "lymph_node_1"),
    ("k_node1_out_per_h", "lymph_node_1", "lymph_node_2"),
    ("k_node2_uptake_per_h", "lymph_node_2", "lymph_node_2_pc"),
    ("k_node2_release_per_h", "lymph_node_2_pc", "lymph_node_2"),
    ("k_node2_out_per_h", "lymph_node_2", "venous_plasma"),
)
#: Masses [g] that the lymphatic route needs for concentrations (depot and node volumes at 1 g/mL).
LYMPHATIC_MASS_KEYS: tuple[str, ...] = ("injection_site_mass_g", "lymph_node_1_mass_g", "lymph_node_2_mass_g")


def _group_of_lymphatic_state() -> NDArray[np.int64]:
    base = {name: OUTPUT_GROUPS[int(g)] for name, g in zip(STATE_NAMES, _group_of_state(), strict=True)}
    group = np.empty(len(LYMPHATIC_STATE_NAMES), dtype=np.int64)
    for i, name in enumerate(LYMPHATIC_STATE_NAMES):
        organ = base.get(name) or name.removesuffix("_pc")
        group[i] = LYMPHATIC_OUTPUT_GROUPS.index(organ)
    return group


#: Output group (index into LYMPHATIC_OUTPUT_GROUPS) of each state of the lymphatic layout.
LYMPHATIC_GROUP_OF_STATE: NDArray[np.int64] = _group_of_lymphatic_state()


@dataclass(frozen=True)
class LinearSystem:
    """A batch of ``S`` linear PBPK systems sharing one sparsity pattern.

    ``values[s, k]`` is the entry ``A0[rows[k], cols[k]]`` of subject ``s``. The time-dependent
    phagocytic uptake of PC ``j`` moves amount from state ``pc_src[j]`` to ``pc_dst[j]`` at the
    rate ``hill[s, j, 0] * t^n / (hill[s, j, 1]^n + t^n)`` with ``n = hill[s, j, 2]``.
    """

    n_states: int
    rows: NDArray[np.int64]
    cols: NDArray[np.int64]
    values: NDArray[np.float64]  # (S, nnz)
    pc_src: NDArray[np.int64]
    pc_dst: NDArray[np.int64]
    hill: NDArray[np.float64]  # (S, n_pc, 3): Kmax [1/h], K50 [h], n [-]
    dose_state: int
    organ_mass_g: NDArray[np.float64]  # (S, len(output_groups)); NaN for excreta
    state_names: tuple[str, ...] = STATE_NAMES
    output_groups: tuple[str, ...] = OUTPUT_GROUPS
    group_of_state: NDArray[np.int64] = field(default_factory=lambda: GROUP_OF_STATE)

    @property
    def n_subjects(self) -> int:
        return int(self.values.shape[0])

    def dense_A0(self, s: int) -> NDArray[np.float64]:
        """The constant part of subject ``s``'s system matrix, dense (for reference solvers)."""
        a = np.zeros((self.n_states, self.n_states))
        np.add.at(a, (self.rows, self.cols), self.values[s])
        return a

    def dense_matrix(self, s: int, t: float) -> NDArray[np.float64]:
        """The full system matrix ``A(t)`` of subject ``s`` (dense)."""
        a = self.dense_A0(s)
        for j in range(self.pc_src.size):
            u = hill_rate(t, *self.hill[s, j])
            a[self.pc_src[j], self.pc_src[j]] -= u
            a[self.pc_dst[j], self.pc_src[j]] += u
        return a

    def subset(self, idx: slice | NDArray[np.int64]) -> LinearSystem:
        """The systems of a subset of subjects."""
        return LinearSystem(
            n_states=self.n_states,
            rows=self.rows,
            cols=self.cols,
            values=np.ascontiguousarray(self.values[idx]),
            pc_src=self.pc_src,
            pc_dst=self.pc_dst,
            hill=np.ascontiguousarray(self.hill[idx]),
            dose_state=self.dose_state,
            organ_mass_g=self.organ_mass_g[idx],
            state_names=self.state_names,
            output_groups=self.output_groups,
            group_of_state=self.group_of_state,
        )


def hill_rate(t: float, kmax: float, k50: float, n: float) -> float:
    """Phagocytic uptake rate ``Kmax t^n / (K50^n + t^n)`` [1/h] at time ``t`` [h]."""
    if t <= 0.0:
        return 0.0
    r = (t / k50) ** n if k50 > 0 else np.inf
    return float(kmax) if not np.isfinite(r) else float(kmax * r / (1.0 + r))


class LinearSystemBuilder:
    """Accumulates first-order transfers into a sparse, batched system matrix."""

    def __init__(self, n_subjects: int, index: Mapping[str, int] | None = None) -> None:
        self.n_subjects = n_subjects
        self._index: Mapping[str, int] = _IDX if index is None else index
        self._entries: dict[tuple[int, int], NDArray[np.float64]] = {}

    def _add(self, row: int, col: int, value: NDArray[np.float64]) -> None:
        key = (row, col)
        if key in self._entries:
            self._entries[key] = self._entries[key] + value
        else:
            self._entries[key] = np.array(value, dtype=float, copy=True)

    def transfer(self, src: str, dst: str, rate_per_h: NDArray[np.float64]) -> None:
        """Move amount from ``src`` to ``dst`` at ``rate_per_h * amount(src)``."""
        i, j = self._index[src], self._index[dst]
        rate = np.broadcast_to(np.asarray(rate_per_h, dtype=float), (self.n_subjects,))
        self._add(j, i, rate)
        self._add(i, i, -rate)

    def touch(self, row: str, col: str) -> None:
        """Reserve a structural entry (e.g. where a time-dependent uptake acts)."""
        self._add(self._index[row], self._index[col], np.zeros(self.n_subjects))

    def build(self) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
        keys = sorted(self._entries)
        rows = np.array([k[0] for k in keys], dtype=np.int64)
        cols = np.array([k[1] for k in keys], dtype=np.int64)
        values = np.stack([self._entries[k] for k in keys], axis=1)
        return rows, cols, np.ascontiguousarray(values)


def _arr(params: Mapping[str, ArrayLike], key: str, n: int) -> NDArray[np.float64]:
    if key not in params:
        raise KeyError(f"PBPK parameter '{key}' is missing")
    value = np.broadcast_to(np.asarray(params[key], dtype=float), (n,)).astype(float)
    if not np.all(np.isfinite(value)):
        raise ValueError(f"PBPK parameter '{key}' has a non-finite value: {value}")
    if np.any(value < 0):
        raise ValueError(f"PBPK parameter '{key}' must be >= 0, got {value.min()}")
    return value


def batch_size(params: Mapping[str, ArrayLike], body_weight_kg: ArrayLike) -> int:
    """Number of subjects implied by the shapes of the parameters and body weights."""
    sizes = {np.size(body_weight_kg)} | {np.size(v) for v in params.values()}
    sizes.discard(1)
    if len(sizes) > 1:
        raise ValueError(f"PBPK parameters have inconsistent batch sizes {sorted(sizes)}")
    return sizes.pop() if sizes else 1


def derived_volumes_and_flows(
    params: Mapping[str, ArrayLike], body_weight_kg: ArrayLike
) -> dict[str, NDArray[np.float64]]:
    """Organ volumes [L], blood sub-volumes [L] and flows [L/h] from fractional parameters.

    The rest of body takes the remaining flow and volume, as in the reference code. Raises
    ``ValueError`` naming the parameters when the fractions leave nothing for the rest of body.
    """
    n = batch_size(params, body_weight_kg)
    bw = np.broadcast_to(np.asarray(body_weight_kg, dtype=float), (n,)).astype(float)
    if np.any(~np.isfinite(bw)) or np.any(bw <= 0):
        raise ValueError(f"body_weight_kg must be positive and finite, got {bw}")
    p = {k: _arr(params, k, n) for k in params}
    flow_keys = ["QLC", "QKC", "QBrC", "QSC", "QMC", "QHC", "QTC"]
    vol_keys = ["VLC", "VLuC", "VKC", "VBrC", "VSC", "VHC", "VMC", "VTC", "VPlasC"]
    for key in [*flow_keys, *vol_keys, "QCC", "VBldC", "FracArterialPlasma"]:
        if key not in p:
            raise KeyError(f"PBPK parameter '{key}' is missing")
    qrc: NDArray[np.float64] = 1.0 - np.sum([p[k] for k in flow_keys], axis=0)
    vrc: NDArray[np.float64] = 1.0 - np.sum([p[k] for k in vol_keys], axis=0)
    if np.any(qrc <= 0):
        raise ValueError(
            "blood-flow fractions " + "+".join(flow_keys) + f" sum to >= 1 (max {1 - qrc.min():.3f}):"
            " nothing is left for the rest of body"
        )
    if np.any(vrc <= 0):
        raise ValueError(
            "volume fractions " + "+".join(vol_keys) + f" sum to >= 1 (max {1 - vrc.min():.3f}):"
            " nothing is left for the rest of body (is the tumour too large for the body weight?)"
        )
    fa = p["FracArterialPlasma"]
    if np.any((fa <= 0) | (fa >= 1)):
        raise ValueError(f"FracArterialPlasma must be in (0, 1), got {fa}")
    qc = p["QCC"] * bw**0.75
    out: dict[str, NDArray[np.float64]] = {"QC": qc, "BW": bw}
    for organ, stem in _STEM.items():
        frac_q = qrc if organ == "rest_of_body" else (np.ones(n) if organ == "lung" else p[f"Q{stem}C"])
        frac_v = vrc if organ == "rest_of_body" else p[f"V{stem}C"]
        bv = p[f"BV{stem}"]
        if np.any((bv <= 0) | (bv >= 1)):
            raise ValueError(f"PBPK parameter 'BV{stem}' (blood fraction of {organ}) must be in (0, 1)")
        v = bw * frac_v
        out[f"Q_{organ}"] = qc * frac_q
        out[f"V_{organ}"] = v
        out[f"Vb_{organ}"] = v * bv
        out[f"Vt_{organ}"] = v * (1.0 - bv)
    out["V_plasma"] = bw * p["VPlasC"]
    out["V_blood"] = bw * p["VBldC"]
    out["V_arterial"] = out["V_plasma"] * fa
    out["V_venous"] = out["V_plasma"] * (1.0 - fa)
    return out


def build_system(
    params: Mapping[str, ArrayLike],
    body_weight_kg: ArrayLike,
    renal_clearance_L_per_h: ArrayLike = 0.0,
    *,
    reference_liver_return: bool = False,
) -> LinearSystem:
    """Assemble the batched linear system for ``S`` subjects.

    ``params`` maps the published parameter names (``QCC``, ``VLC``, ``PATC``, ``KTRESmax``...)
    to scalars or arrays of length ``S``; ``body_weight_kg`` is a scalar or ``(S,)``;
    ``renal_clearance_L_per_h`` is the size-dependent glomerular clearance of the particle added
    to the model's urinary clearance (0 for particles too large to be filtered).
    """
    d = derived_volumes_and_flows(params, body_weight_kg)
    n = d["BW"].size
    b = LinearSystemBuilder(n)
    pc_src, pc_dst, hill = _assemble_body(b, params, d, renal_clearance_L_per_h, reference_liver_return, _IDX)
    rows, cols, values = b.build()
    return LinearSystem(
        n_states=len(STATE_NAMES),
        rows=rows,
        cols=cols,
        values=values,
        pc_src=pc_src,
        pc_dst=pc_dst,
        hill=hill,
        dose_state=_IDX["venous_plasma"],
        organ_mass_g=_organ_masses(d, OUTPUT_GROUPS, {}),
    )


def build_lymphatic_system(
    params: Mapping[str, ArrayLike],
    body_weight_kg: ArrayLike,
    lymphatic: Mapping[str, ArrayLike],
    renal_clearance_L_per_h: ArrayLike = 0.0,
    *,
    reference_liver_return: bool = False,
) -> LinearSystem:
    """The whole-body system of :func:`build_system` plus an interstitial depot and two lymph nodes.

    The dose starts in ``injection_site``. ``lymphatic`` gives, per subject, every rate constant of
    :data:`LYMPHATIC_TRANSFERS` [1/h] (depot -> first node through the initial and afferent
    lymphatics, depot -> venous plasma through blood capillaries, node macrophage uptake and
    release, node outflow -> next node / thoracic duct -> venous plasma) and the masses of
    :data:`LYMPHATIC_MASS_KEYS` [g]. Every transfer is first order, so the columns still sum to
    zero and mass is conserved by construction; the whole-body part is identical to
    :func:`build_system`'s. Raises ``KeyError``/``ValueError`` naming a missing or bad entry.
    """
    lymph_sizes = {np.size(v) for v in lymphatic.values()} - {1}
    if len(lymph_sizes) > 1:
        raise ValueError(f"lymphatic parameters have inconsistent batch sizes {sorted(lymph_sizes)}")
    if lymph_sizes and batch_size(params, body_weight_kg) == 1:
        body_weight_kg = np.broadcast_to(np.asarray(body_weight_kg, dtype=float), (lymph_sizes.pop(),))
    d = derived_volumes_and_flows(params, body_weight_kg)
    n = d["BW"].size
    b = LinearSystemBuilder(n, _IDX_LYMPHATIC)
    pc_src, pc_dst, hill = _assemble_body(
        b, params, d, renal_clearance_L_per_h, reference_liver_return, _IDX_LYMPHATIC
    )
    for key, src, dst in LYMPHATIC_TRANSFERS:
        b.transfer(src, dst, _lymph_arr(lymphatic, key, n, positive=False))
    masses = {key: _lymph_arr(lymphatic, key, n, positive=True) for key in LYMPHATIC_MASS_KEYS}
    rows, cols, values = b.build()
    return LinearSystem(
        n_states=len(LYMPHATIC_STATE_NAMES),
        rows=rows,
        cols=cols,
        values=values,
        pc_src=pc_src,
        pc_dst=pc_dst,
        hill=hill,
        dose_state=_IDX_LYMPHATIC["injection_site"],
        organ_mass_g=_organ_masses(d, LYMPHATIC_OUTPUT_GROUPS, masses),
        state_names=LYMPHATIC_STATE_NAMES,
        output_groups=LYMPHATIC_OUTPUT_GROUPS,
        group_of_state=LYMPHATIC_GROUP_OF_STATE,
    )


def _lymph_arr(values: Mapping[str, ArrayLike], key: str, n: int, *, positive: bool) -> NDArray[np.float64]:
    if key not in values:
        raise KeyError(f"lymphatic parameter '{key}' is missing")
    try:
        arr = np.broadcast_to(np.asarray(values[key], dtype=float), (n,)).astype(float)
    except ValueError:
        raise ValueError(f"lymphatic parameter '{key}' does not match the batch of {n} subject(s)") from None
    bad = ~np.isfinite(arr) | ((arr <= 0) if positive else (arr < 0))
    if np.any(bad):
        allowed = "> 0" if positive else ">= 0"
        raise ValueError(f"lymphatic parameter '{key}' must be finite and {allowed}, got {arr[bad][0]!r}")
    return arr


def _organ_masses(
    d: Mapping[str, NDArray[np.float64]], groups: tuple[str, ...], extra: Mapping[str, NDArray[np.float64]]
) -> NDArray[np.float64]:
    n = d["BW"].size
    organ_mass_g = np.full((n, len(groups)), np.nan)
    for gi, organ in enumerate(groups):
        if organ == "blood":
            organ_mass_g[:, gi] = d["V_blood"] * 1000.0
        elif organ in _STEM:
            organ_mass_g[:, gi] = d[f"V_{organ}"] * 1000.0  # tissue density 1 g/mL
        elif f"{organ}_mass_g" in extra:
            organ_mass_g[:, gi] = extra[f"{organ}_mass_g"]
    return organ_mass_g


def _assemble_body(
    b: LinearSystemBuilder,
    params: Mapping[str, ArrayLike],
    d: Mapping[str, NDArray[np.float64]],
    renal_clearance_L_per_h: ArrayLike,
    reference_liver_return: bool,
    idx: Mapping[str, int],
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Add the whole-body transfers to ``b``; return the phagocytic uptake (src, dst, Hill)."""
    n = d["BW"].size
    p = {k: _arr(params, k, n) for k in params}
    qc = d["QC"]

    # Lung: the whole cardiac output passes venous plasma -> lung capillaries -> arterial plasma.
    b.transfer("venous_plasma", "lung_blood", qc / d["V_venous"])
    b.transfer("lung_blood", "arterial_plasma", qc / d["Vb_lung"])

    # Systemic organs: arterial plasma -> organ capillary blood -> venous plasma.
    for organ in ("heart", "brain", "muscle", "kidney", "spleen", "liver", "rest_of_body", "tumor"):
        b.transfer("arterial_plasma", f"{organ}_blood", d[f"Q_{organ}"] / d["V_arterial"])
    for organ in ("heart", "brain", "muscle", "kidney", "rest_of_body", "tumor"):
        b.transfer(f"{organ}_blood", "venous_plasma", d[f"Q_{organ}"] / d[f"Vb_{organ}"])
    # Spleen drains into the liver (portal); the liver returns hepatic-artery + splenic flow.
    b.transfer("spleen_blood", "liver_blood", d["Q_spleen"] / d["Vb_spleen"])
    liver_out = d["Q_liver"] if reference_liver_return else d["Q_liver"] + d["Q_spleen"]
    b.transfer("liver_blood", "venous_plasma", liver_out / d["Vb_liver"])

    # Permeability-limited exchange between capillary blood and tissue.
    for organ, stem in _STEM.items():
        q_ref = qc if organ == "lung" else d[f"Q_{organ}"]
        pa = p[f"PA{stem}C"] * q_ref  # L/h
        partition = p[f"P{stem}"]
        if np.any(partition <= 0):
            raise ValueError(f"PBPK parameter 'P{stem}' (partition of {organ}) must be > 0")
        b.transfer(f"{organ}_blood", f"{organ}_tissue", pa / d[f"Vb_{organ}"])
        b.transfer(f"{organ}_tissue", f"{organ}_blood", pa / (partition * d[f"Vt_{organ}"]))

    # Phagocytic cells: release is first order back to the source; uptake is time dependent.
    pc_src, pc_dst, hill = [], [], []
    for organ in PC_ORGANS:
        stem = _STEM[organ]
        src = f"{organ}_blood" if organ == "liver" else f"{organ}_tissue"
        b.transfer(f"{organ}_pc", src, p[f"K{stem}RESrelease"])
        b.touch(f"{organ}_pc", src)
        pc_src.append(idx[src])
        pc_dst.append(idx[f"{organ}_pc"])
        k50 = p[f"K{stem}RES50"]
        if np.any(k50 <= 0):
            raise ValueError(f"PBPK parameter 'K{stem}RES50' must be > 0")
        hill.append(np.stack([p[f"K{stem}RESmax"], k50, p[f"K{stem}RESn"]], axis=1))

    # Excretion: urine from kidney capillary blood, bile (to feces) from liver tissue.
    bw75 = d["BW"] ** 0.75
    renal = np.broadcast_to(np.asarray(renal_clearance_L_per_h, dtype=float), (n,))
    if np.any(renal < 0) or np.any(~np.isfinite(renal)):
        raise ValueError(f"renal_clearance_L_per_h must be >= 0 and finite, got {renal}")
    b.transfer("kidney_blood", "urine", (p["KurineC"] * bw75 + renal) / d["Vb_kidney"])
    b.transfer("liver_tissue", "feces", p["KbileC"] * bw75 / d["Vt_liver"])
    return (
        np.array(pc_src, dtype=np.int64),
        np.array(pc_dst, dtype=np.int64),
        np.ascontiguousarray(np.stack(hill, axis=1)),
    )
