"""The store as an :class:`~nanobridge.science.dossier.evidence.EvidenceSource` of the IND dossier.

:class:`StoreEvidenceSource` reads the evidence items a project holds for one agent and maps each
to a dossier evidence record the way :func:`~nanobridge.science.dossier.evidence.load_manifest`
reads a manifest item:

- the item's ``data`` mapping carries the manifest fields (``id``, ``type``/``assay``,
  ``requirements``, ``kind``, ``date``, ``batch``, ``quantity``, ``value``, ``unit``,
  ``acceptance``, ``outcome``, ``status``, ``result``, ...), parsed by the same rules; without a
  ``type`` the item's ``category`` is tried as the evidence type; ``title`` and ``summary`` fill
  ``title`` and ``result`` when ``data`` does not;
- the data file is the linked raw file (its original name and stored SHA-256); none linked: no
  file (the record is then unverified);
- the signer comes only from the store's signatures (:func:`~nanobridge.store.signatures.signature_status`):
  a signature no longer valid for the record as it is now does not count, and ``signed_by`` /
  ``signed_on`` / ``file`` written into ``data`` are ignored with a warning.

A field the store item lacks stays empty, so the readiness counts it as partly met or missing,
never as met.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from nanobridge.science.dossier.evidence import _FIELD_ALIASES, EvidenceBundle, _item, _key
from nanobridge.science.dossier.evidence import EvidenceItem as DossierItem
from nanobridge.science.dossier.requirements import RequirementsModel, requirements_model
from nanobridge.store import service
from nanobridge.store.errors import NotFound
from nanobridge.store.models import Agent, RawFile, User
from nanobridge.store.models import EvidenceItem as StoredItem
from nanobridge.store.signatures import signature_status

__all__ = ["StoreEvidenceSource"]

#: Fields that only the store itself may supply (file and signature).
_STORE_ONLY = frozenset({"file", "signed_by", "signed_on", "signature_meaning"})


class StoreEvidenceSource:
    """The evidence items of agent ``agent_id`` in project ``project_id``, read as ``actor``."""

    def __init__(
        self,
        session: Session,
        actor: User,
        project_id: int,
        agent_id: int,
        model: RequirementsModel | None = None,
    ) -> None:
        self.session = session
        self.actor = actor
        self.project_id = project_id
        self.agent_id = agent_id
        self.model = model

    def __repr__(self) -> str:
        return f"StoreEvidenceSource(project_id={self.project_id}, agent_id={self.agent_id})"

    def collect(self, agent_name: str) -> EvidenceBundle:
        """The stored evidence of the agent (``agent_name`` only labels the bundle)."""
        agent = service.get(self.session, self.actor, Agent, self.agent_id)
        if agent.project_id != self.project_id:
            raise NotFound(f"agent {self.agent_id} not found in project {self.project_id}")
        model = self.model if self.model is not None else requirements_model()
        records = service.list_records(
            self.session, self.actor, StoredItem, self.project_id, agent_id=self.agent_id
        )
        warnings: list[str] = []
        items: list[DossierItem] = []
        seen: set[str] = set()
        for index, record in enumerate(records, start=1):
            item = self._map(record, index, model, warnings)
            if item is None:
                continue
            if item.id in seen:
                warnings.append(f"evidence item {record.id}: duplicate id {item.id!r}; skipped")
                continue
            seen.add(item.id)
            items.append(item)
        return EvidenceBundle(
            items=tuple(items),
            warnings=tuple(warnings),
            source=f"store: project {self.project_id}, agent {agent.name!r} (id {agent.id})",
            description=(
                f"{len(items)} evidence item(s) held in the store for {agent_name or agent.name}; "
                "data files by their stored SHA-256, signatures verified against the records as they are now."
            ),
        )

    def _map(
        self, record: StoredItem, index: int, model: RequirementsModel, warnings: list[str]
    ) -> DossierItem | None:
        where = f"evidence item {record.id}"
        data: Mapping[str, Any] = record.data if isinstance(record.data, Mapping) else {}
        row: dict[str, Any] = {}
        for key, value in data.items():
            name = _FIELD_ALIASES.get(_key(key), str(key).strip())
            if name in _STORE_ONLY:
                warnings.append(
                    f"{where}: {key!r} in its data ignored (file and signature come from the store)"
                )
                continue
            row[name] = value
        if not row.get("id"):
            row["id"] = f"EV-{record.id}"
        if row.get("type") is None or not str(row["type"]).strip():
            row["type"] = record.category
        if not row.get("title"):
            row["title"] = record.title
        if not row.get("result") and record.summary:
            row["result"] = record.summary
        item = _item(row, index, where, Path("."), model, False, warnings)
        if item is None:
            return None
        update: dict[str, Any] = {"source": f"{where}" + (f" ({record.source})" if record.source else "")}
        if record.raw_file_id is not None:
            raw = self.session.get(RawFile, record.raw_file_id)
            if raw is None or raw.deleted_at is not None:
                update.update(file=f"raw file {record.raw_file_id}", file_found=False, sha256=None)
            else:
                update.update(file=raw.original_name, file_found=True, sha256=raw.sha256)
        valid = []
        for signature, check in signature_status(self.session, record):
            if check.valid:
                valid.append(signature)
            else:
                warnings.append(f"{where}: signature {signature.id} not counted: {check.reason}")
        if valid:
            update.update(
                signed_by="; ".join(dict.fromkeys(s.printed_name for s in valid)),
                signed_on=valid[0].signed_at.date(),
                signature_meaning=", ".join(dict.fromkeys(str(s.meaning) for s in valid)),
            )
        return item.model_copy(update=update)
