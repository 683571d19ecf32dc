"""An ISA-TAB-Nano style export of an agent's characterization data, and a reader for it.

ISA-TAB-Nano (Thomas et al. 2013) shares nanomaterial data as tab-separated files: an
Investigation file (the study, its assays and protocols), a Study file (the samples), one Assay
file per measurement type (samples, protocol, measured values with units, data files) and a
Material file (the nanomaterial and its components). :func:`build_isatab` writes a subset of
those columns for one agent:

- Material file: the agent spec's design values (flagged ``design`` or ``assumed``; they are not
  measurements), one row per component (core, coating, ligand, labels);
- Assay files: the *measured* evidence items (measurements and analyses, not documents or
  predictions), with value, unit, acceptance criterion, outcome, data file and signature;
- terms (techniques, assay types, composing-element and function types, shapes, units) from the
  caNanoLab controlled vocabulary (``data/dossier/isatab_vocabulary.yaml``); a technique written
  in a record that is not in the vocabulary is exported as free text and says so.

:func:`read_isatab` reads the files back (used by the tests and by anyone re-importing them).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from nanobridge._yaml import UniqueKeyLoader
from nanobridge.domain import AgentSpec
from nanobridge.science.dossier.evidence import EvidenceItem

__all__ = [
    "IsaTab",
    "build_isatab",
    "isatab_vocabulary",
    "read_isatab",
    "term",
]

_SCHEMA = "nanobridge-isatab-vocabulary-1"
#: Sections of the Investigation file, in order.
INVESTIGATION_SECTIONS: tuple[str, ...] = (
    "ONTOLOGY SOURCE REFERENCE",
    "INVESTIGATION",
    "INVESTIGATION PUBLICATIONS",
    "STUDY",
    "STUDY ASSAYS",
    "STUDY PROTOCOLS",
)


@functools.lru_cache(maxsize=1)
def isatab_vocabulary() -> dict[str, Any]:
    """The packaged export vocabulary (``data/dossier/isatab_vocabulary.yaml``)."""
    path = resources.files("nanobridge") / "data" / "dossier" / "isatab_vocabulary.yaml"
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)
    if data.get("schema") != _SCHEMA:
        raise ValueError(f"data/dossier/isatab_vocabulary.yaml: schema must be {_SCHEMA!r}")
    return dict(data)


def term(section: str, key: str) -> str | None:
    """The caNanoLab term for ``key`` in a vocabulary ``section`` (e.g. ``('shape', 'sphere')``)."""
    entry = isatab_vocabulary().get(section, {}).get(key)
    return None if entry is None else str(entry["term"])


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "agent"


@dataclass(frozen=True)
class IsaTab:
    """The export: file name -> rows (lists of cells). :meth:`text` gives a file's TSV text."""

    identifier: str
    files: dict[str, list[list[str]]] = field(default_factory=dict)

    @property
    def investigation_file(self) -> str:
        """Name of the Investigation file."""
        return f"i_{self.identifier}.txt"

    def text(self, name: str) -> str:
        """The tab-separated text of file ``name``."""
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        for row in self.files[name]:
            writer.writerow(row)
        return buf.getvalue()

    def write(self, folder: str | Path) -> list[Path]:
        """Write every file into ``folder`` (created); returns the paths."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for name in self.files:
            p = out / name
            p.write_text(self.text(name), encoding="utf-8")
            paths.append(p)
        return paths


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _material_rows(agent: AgentSpec, source_name: str) -> list[list[str]]:
    header = [
        "Material Source Name",
        "Material Name",
        "Material Type",
        "Material Description",
        "Characteristics[composing element type]",
        "Characteristics[functionalization type]",
        "Characteristics[function]",
        "Characteristics[chemical name]",
        "Characteristics[shape]",
        "Characteristics[diameter]",
        "Unit",
        "Characteristics[zeta potential]",
        "Unit",
        "Characteristics[molecular weight]",
        "Unit",
        "Comment[value type]",
        "Comment[vocabulary]",
    ]
    assumed = set(agent.assumed_fields)

    def kind(*fields: str) -> str:
        return "assumed design value" if any(f in assumed for f in fields) else "design value (agent spec)"

    shape = term("shape", agent.shape)
    rows: list[list[str]] = [header]
    name = agent.name
    rows.append(
        [
            source_name,
            name,
            "nanomaterial",
            agent.description.strip().replace("\n", " "),
            "",
            "",
            ", ".join(
                t
                for t in (
                    term("function", "imaging") if agent.modalities else None,
                    term("function", "targeting") if agent.targeting_ligand else None,
                )
                if t
            ),
            "",
            shape or agent.shape,
            _fmt(agent.hydrodynamic_diameter_nm),
            term("units", "nm") or "nm",
            _fmt(agent.zeta_potential_mV),
            term("units", "mV") or "mV",
            "",
            "",
            kind("hydrodynamic_diameter_nm", "zeta_potential_mV"),
            "caNanoLab" if shape else f"shape {agent.shape!r} not in the caNanoLab vocabulary (free text)",
        ]
    )
    core = agent.material.display_name or agent.core_material
    rows.append(
        [
            source_name,
            f"{name} / core",
            "composing element",
            f"{core} core",
            term("composing_element", "core") or "core",
            "",
            "",
            core,
            shape or agent.shape,
            _fmt(agent.core_diameter_nm),
            term("units", "nm") or "nm",
            "",
            "",
            "",
            "",
            kind("core_diameter_nm"),
            "caNanoLab",
        ]
    )
    coating = agent.coating
    if coating.kind != "none":
        rows.append(
            [
                source_name,
                f"{name} / coating",
                "composing element",
                coating.description or coating.kind,
                term("composing_element", "coating") or "coat",
                (term("functionalization", "polymer") or "")
                if coating.kind in ("PEG", "dextran", "zwitterionic")
                else "",
                "",
                coating.kind,
                "",
                "",
                "",
                "",
                "",
                _fmt(coating.peg_mw_Da),
                "Da" if coating.peg_mw_Da else "",
                kind("coating.kind", "coating.peg_mw_Da"),
                "caNanoLab",
            ]
        )
    if agent.targeting_ligand:
        rows.append(
            [
                source_name,
                f"{name} / ligand",
                "functionalizing entity",
                agent.targeting_ligand,
                term("composing_element", "ligand") or "modifier",
                term("functionalization", "ligand") or "",
                term("function", "targeting") or "targeting function",
                agent.targeting_ligand,
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                kind("targeting_ligand"),
                "caNanoLab",
            ]
        )
    labels = agent.labels
    if labels.radionuclide is not None:
        rn = labels.radionuclide
        rows.append(
            [
                source_name,
                f"{name} / radiolabel",
                "functionalizing entity",
                f"{rn.entry.display_name or rn.nuclide}"
                + (f", chelator {rn.chelator}" if rn.chelator else ""),
                "",
                term("functionalization", "radionuclide") or "radioisotope",
                term("function", "imaging") or "",
                rn.nuclide,
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                kind("labels.radionuclide"),
                "caNanoLab",
            ]
        )
    if labels.fluorophore is not None:
        fl = labels.fluorophore
        rows.append(
            [
                source_name,
                f"{name} / fluorophore",
                "functionalizing entity",
                f"{fl.name}, {fl.window} window, {fl.dyes_per_particle:g} per particle",
                "",
                term("functionalization", "fluorophore") or "Fluorophore",
                term("function", "imaging") or "",
                fl.name,
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                kind("labels.fluorophore.dyes_per_particle"),
                "caNanoLab",
            ]
        )
    if labels.mri is not None:
        rows.append(
            [
                source_name,
                f"{name} / MRI contrast",
                "functionalizing entity",
                labels.mri.element,
                "",
                term("functionalization", "contrast") or "",
                term("function", "imaging") or "",
                labels.mri.element,
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                kind("labels.mri"),
                "caNanoLab",
            ]
        )
    if labels.ct is not None:
        rows.append(
            [
                source_name,
                f"{name} / CT contrast",
                "functionalizing entity",
                labels.ct.element,
                "",
                "",
                term("function", "imaging") or "",
                labels.ct.element,
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                kind("labels.ct"),
                "caNanoLab",
            ]
        )
    width = len(header)
    return [r + [""] * (width - len(r)) for r in rows]


def _assay_key(item: EvidenceItem) -> str:
    return _slug(item.type)


def build_isatab(
    agent: AgentSpec,
    items: Sequence[EvidenceItem],
    *,
    generated_by: str = "nanobridge",
    submission_date: dt.date | None = None,
    illustrative: bool = False,
    publications: Sequence[Mapping[str, str]] = (),
) -> IsaTab:
    """The ISA-TAB-Nano export of ``agent`` and its measured evidence ``items`` (measurements and
    analyses; documents and predictions are left out). ``publications``: mappings with ``doi``
    and ``title`` (e.g. the agent's sources)."""
    vocab = isatab_vocabulary()
    ident = _slug(agent.name)
    source_name = f"{ident}-material"
    measured = [i for i in items if i.kind in ("measurement", "analysis")]
    groups: dict[str, list[EvidenceItem]] = {}
    for item in measured:
        groups.setdefault(_assay_key(item), []).append(item)
    files: dict[str, list[list[str]]] = {}
    # material file
    material_name = f"m_{ident}.txt"
    files[material_name] = _material_rows(agent, source_name)
    # study file: one sample per batch (or per record without a batch)
    study_name = f"s_{ident}.txt"
    samples: dict[str, str] = {}
    for item in measured:
        samples.setdefault(item.batch or f"record {item.id}", item.batch or "")
    study_rows = [
        [
            "Source Name",
            "Material File Name",
            "Characteristics[material type]",
            "Protocol REF",
            "Sample Name",
            "Characteristics[batch]",
        ]
    ]
    for sample, batch in samples.items():
        study_rows.append([source_name, material_name, "nanomaterial", "sample preparation", sample, batch])
    files[study_name] = study_rows
    # assay files
    assay_meta: list[tuple[str, str, str, str]] = []  # file, measurement type, technology, protocol
    protocols: dict[str, tuple[str, str]] = {}
    for key, group in groups.items():
        type_id = group[0].type
        entry = vocab["evidence_types"].get(type_id, {})
        measurement = str(entry.get("measurement", {}).get("term", "")) or type_id
        technique = str(entry.get("technique", {}).get("term", ""))
        protocol_type = str(entry.get("protocol_type", {}).get("term", ""))
        file_name = f"a_{ident}_{key}.txt"
        rows = [
            [
                "Sample Name",
                "Protocol REF",
                "Parameter Value[technique]",
                "Comment[technique vocabulary]",
                "Assay Name",
                f"Measurement Value[{measurement}]",
                "Unit",
                "Comment[quantity]",
                "Comment[acceptance criterion]",
                "Comment[outcome]",
                "Comment[result]",
                "Raw Data File",
                "Comment[sha256]",
                "Comment[date]",
                "Comment[signed by]",
                "Comment[signed on]",
                "Comment[evidence id]",
            ]
        ]
        for item in group:
            written = item.technique.strip()
            known = vocab_techniques()
            if written and written not in known:
                tech, note = written, "free text (not in the caNanoLab vocabulary)"
            else:
                tech, note = (written or technique), ("caNanoLab" if (written or technique) else "")
            rows.append(
                [
                    item.batch or f"record {item.id}",
                    item.reported_type or item.type,
                    tech,
                    note,
                    f"{item.id} {item.title}".strip(),
                    _fmt(item.value),
                    item.unit,
                    item.quantity,
                    item.acceptance.describe() if item.acceptance is not None else "",
                    item.outcome or "",
                    item.result,
                    item.file or "",
                    item.sha256 or "",
                    item.date.isoformat() if item.date else "",
                    item.signed_by or "",
                    item.signed_on.isoformat() if item.signed_on else "",
                    item.id,
                ]
            )
        files[file_name] = rows
        assay_meta.append((file_name, measurement, technique, group[0].reported_type or type_id))
        protocols.setdefault(group[0].reported_type or type_id, (protocol_type, group[0].title))
    # investigation file
    ts = vocab["term_source"]
    date = (submission_date or dt.date.today()).isoformat()
    inv: list[list[str]] = [
        ["ONTOLOGY SOURCE REFERENCE"],
        ["Term Source Name", str(ts["name"])],
        ["Term Source File", str(ts["file"])],
        ["Term Source Version", str(ts["version"])],
        ["Term Source Description", str(ts["description"])],
        ["INVESTIGATION"],
        ["Investigation Identifier", ident],
        ["Investigation Title", f"Characterization of {agent.name} for IND readiness"],
        [
            "Investigation Description",
            "Nanomaterial design values (material file) and measured characterization records (assay files) "
            "exported by nanobridge." + (" ILLUSTRATIVE records, not measurements." if illustrative else ""),
        ],
        ["Investigation Submission Date", date],
        ["Comment[generated by]", generated_by],
        ["Comment[illustrative]", "yes" if illustrative else "no"],
        ["INVESTIGATION PUBLICATIONS"],
        ["Investigation Publication DOI", *[p.get("doi", "") for p in publications]],
        ["Investigation Publication Title", *[p.get("title", "") for p in publications]],
        ["STUDY"],
        ["Study Identifier", f"{ident}-characterization"],
        ["Study Title", f"Physicochemical, in vitro and in vivo characterization of {agent.name}"],
        ["Study File Name", study_name],
        ["Comment[Material File Name]", material_name],
        ["STUDY ASSAYS"],
        ["Study Assay Measurement Type", *[m[1] for m in assay_meta]],
        ["Study Assay Technology Type", *[m[2] for m in assay_meta]],
        ["Study Assay File Name", *[m[0] for m in assay_meta]],
        ["STUDY PROTOCOLS"],
        ["Study Protocol Name", "sample preparation", *protocols],
        ["Study Protocol Type", "sample preparation", *[v[0] for v in protocols.values()]],
        [
            "Study Protocol Description",
            "as manufactured (lot or record)",
            *[v[1] for v in protocols.values()],
        ],
    ]
    out = {f"i_{ident}.txt": inv, **files}
    return IsaTab(identifier=ident, files=out)


@functools.lru_cache(maxsize=1)
def vocab_techniques() -> frozenset[str]:
    """Techniques the export vocabulary knows (exported as caNanoLab terms)."""
    vocab = isatab_vocabulary()
    return frozenset(
        str(e["technique"]["term"])
        for e in vocab["evidence_types"].values()
        if isinstance(e, Mapping) and "technique" in e
    )


def read_isatab(folder: str | Path) -> dict[str, Any]:
    """Read an export back: ``{'investigation': {section: {label: [values]}}, 'study': rows,
    'material': rows, 'assays': {file name: rows}}`` (rows as dicts by header; repeated headers
    such as ``Unit`` get a ``.1``, ``.2`` suffix). ValueError if the investigation file or a file
    it names is missing."""
    root = Path(folder)
    inv_files = sorted(root.glob("i_*.txt"))
    if len(inv_files) != 1:
        raise ValueError(f"{root}: expected one investigation file i_*.txt, found {len(inv_files)}")

    def rows(path: Path) -> list[list[str]]:
        with path.open(encoding="utf-8", newline="") as fh:
            return [r for r in csv.reader(fh, delimiter="\t")]

    investigation: dict[str, dict[str, list[str]]] = {}
    section = ""
    for row in rows(inv_files[0]):
        if not row:
            continue
        if len(row) == 1 and row[0].isupper():
            section = row[0]
            investigation[section] = {}
            continue
        investigation.setdefault(section, {})[row[0]] = row[1:]

    def table(name: str) -> list[dict[str, str]]:
        path = root / name
        if not path.is_file():
            raise ValueError(f"{root}: {name} is named in the investigation file but missing")
        data = rows(path)
        header: list[str] = []
        seen: dict[str, int] = {}
        for h in data[0]:
            n = seen.get(h, 0)
            header.append(h if n == 0 else f"{h}.{n}")
            seen[h] = n + 1
        return [dict(zip(header, r, strict=False)) for r in data[1:]]

    study = investigation.get("STUDY", {})
    study_file = (study.get("Study File Name") or [""])[0]
    material_file = (study.get("Comment[Material File Name]") or [""])[0]
    assays = {
        name: table(name)
        for name in investigation.get("STUDY ASSAYS", {}).get("Study Assay File Name", [])
        if name
    }
    return {
        "investigation": investigation,
        "study": table(study_file),
        "material": table(material_file),
        "assays": assays,
    }
