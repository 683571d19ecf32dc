"""Base class of the domain's input models: strict (unknown keys are errors), immutable, and
raising :class:`SpecError` rather than pydantic's ``ValidationError``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from nanobridge.domain.errors import SpecError

__all__ = ["SpecModel", "deep_merge"]


def deep_merge(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated with ``changes``; nested mappings are merged, ``None`` removes a key."""
    out = dict(base)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


class SpecModel(BaseModel):
    """Strict, frozen pydantic model whose validation errors are :class:`SpecError`."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
        allow_inf_nan=False,
        validate_default=True,
    )

    #: Word used in error headers ("invalid agent spec ...").
    spec_kind: ClassVar[str] = "input"

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise SpecError.from_validation_error(exc, type(self), kind=self.spec_kind) from None

    @classmethod
    def model_validate(
        cls,
        obj: Any,
        *,
        strict: bool | None = None,
        from_attributes: bool | None = None,
        context: Any | None = None,
        **kwargs: Any,
    ) -> Self:
        try:
            return super().model_validate(
                obj, strict=strict, from_attributes=from_attributes, context=context, **kwargs
            )
        except ValidationError as exc:
            raise SpecError.from_validation_error(exc, cls, kind=cls.spec_kind) from None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> Self:
        """Validate a mapping; :class:`SpecError` (naming ``source``) if it is not valid."""
        if not isinstance(data, Mapping):
            from nanobridge.domain.errors import NO_VALUE, Problem

            raise SpecError(
                [Problem(source or "<root>", NO_VALUE, f"expected a mapping of {cls.spec_kind} fields")],
                source=source,
                kind=cls.spec_kind,
            )
        try:
            return super().model_validate(dict(data))
        except ValidationError as exc:
            raise SpecError.from_validation_error(exc, cls, source=source, kind=cls.spec_kind) from None

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON types), without unset optional values; loads back to an equal spec."""
        return self.model_dump(mode="json", exclude_none=True)

    def to_yaml(self, path: str | Path | None = None) -> str:
        """YAML text of :meth:`to_dict`; also written to ``path`` if given."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=100)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def evolve(self, **changes: Any) -> Self:
        """A re-validated copy with ``changes`` applied (nested mappings merge; ``None`` unsets)."""
        return type(self).from_dict(deep_merge(self.to_dict(), changes))
