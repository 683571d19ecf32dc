"""Errors of the domain layer.

Every bad input becomes one :class:`SpecError` (a :class:`ValueError`) whose message lists each
problem as ``field.path: value -> what is allowed``.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from nanobridge.domain._units import describe_unit, unknown_key_hint

__all__ = ["MISSING", "NO_VALUE", "CatalogLookupError", "FieldProblems", "Problem", "SpecError"]


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


class _NoValue:
    def __repr__(self) -> str:
        return "<no value>"


#: The value of a required field that was not given (shown as ``<missing>``).
MISSING: Any = _Missing()
#: Marks a problem that concerns no value (a whole file, e.g. malformed YAML): no ``->`` part.
NO_VALUE: Any = _NoValue()


def _show(value: Any, limit: int = 80) -> str:
    if value is MISSING:
        return "<missing>"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        text = repr(value)
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: ..." for k in list(value)[:6]) + "}"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class Problem:
    """One problem in an input: where (``path``), what was given (``value``), what is allowed."""

    path: str
    value: Any
    message: str

    def prefixed(self, prefix: str) -> Problem:
        if not prefix:
            return self
        if not self.path:
            return Problem(prefix, self.value, self.message)
        joiner = "" if self.path.startswith("[") else "."
        return Problem(f"{prefix}{joiner}{self.path}", self.value, self.message)

    def __str__(self) -> str:
        where = self.path or "<root>"
        if self.value is NO_VALUE:
            return f"{where}: {self.message}"
        return f"{where}: {_show(self.value)} -> {self.message}"


class FieldProblems(ValueError):
    """Raised inside validators to report problems with field paths relative to the model.

    Converted into :class:`SpecError` entries with the full path by :meth:`SpecError.from_validation_error`.
    """

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


class CatalogLookupError(ValueError):
    """A name that is not in a catalog (material, radionuclide, fluorophore, species, ...)."""

    def __init__(self, catalog: str, name: object, allowed: Sequence[str], hint: str = "") -> None:
        self.catalog = catalog
        self.name = name
        self.allowed = tuple(allowed)
        self.hint = hint
        text = f"unknown {catalog} {name!r}; allowed: {', '.join(self.allowed)}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)

    @property
    def allowed_message(self) -> str:
        text = f"unknown {self.catalog}; allowed: {', '.join(self.allowed)}"
        return f"{text} ({self.hint})" if self.hint else text


class SpecError(ValueError):
    """An agent spec, scenario or data file that is not valid. ``problems`` lists each issue."""

    def __init__(
        self, problems: Iterable[Problem], *, source: str | None = None, kind: str = "input"
    ) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.source = source
        self.kind = kind
        where = f" in {source}" if source else ""
        n = len(self.problems)
        header = f"invalid {kind}{where}: {n} problem{'s' if n != 1 else ''}"
        super().__init__(header + "".join(f"\n  - {p}" for p in self.problems))

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(p.path for p in self.problems)

    @classmethod
    def from_validation_error(
        cls,
        exc: ValidationError,
        model: type[BaseModel],
        *,
        source: str | None = None,
        kind: str = "input",
    ) -> SpecError:
        problems: list[Problem] = []
        for err in exc.errors():
            problems.extend(_convert_error(err, model))
        # keep order, drop exact duplicates
        seen: set[str] = set()
        unique = []
        for problem in problems:
            if str(problem) not in seen:
                seen.add(str(problem))
                unique.append(problem)
        return cls(unique, source=source, kind=kind)


# --------------------------------------------------------------------------------------------
# Converting pydantic errors
# --------------------------------------------------------------------------------------------


def _format_loc(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _find_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _find_model(arg)
        if found is not None:
            return found
    return None


def _walk(
    model: type[BaseModel], loc: Sequence[int | str]
) -> tuple[type[BaseModel] | None, FieldInfo | None]:
    """The model class and the field at ``loc`` (``None`` where the walk leaves known models)."""
    cls: type[BaseModel] | None = model
    field: FieldInfo | None = None
    for part in loc:
        if isinstance(part, int):
            continue
        if cls is None:
            return None, None
        field = cls.model_fields.get(part)
        if field is None:
            return cls, None
        cls = _find_model(field.annotation)
    return cls, field


def _bounds_text(field: FieldInfo | None, unit: str) -> str | None:
    if field is None:
        return None
    lo: Any = None
    hi: Any = None
    lo_open = hi_open = False
    for meta in field.metadata:
        if isinstance(meta, annotated_types.Gt):
            lo, lo_open = meta.gt, True
        elif isinstance(meta, annotated_types.Ge):
            lo, lo_open = meta.ge, False
        elif isinstance(meta, annotated_types.Lt):
            hi, hi_open = meta.lt, True
        elif isinstance(meta, annotated_types.Le):
            hi, hi_open = meta.le, False
    u = f" {unit}" if unit else ""
    if lo is not None and hi is not None:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        return f"must be in {left}{lo}, {hi}{right}{u}"
    if lo is not None:
        return f"must be {'>' if lo_open else '>='} {lo}{u}"
    if hi is not None:
        return f"must be {'<' if hi_open else '<='} {hi}{u}"
    return None


def _convert_error(err: Any, model: type[BaseModel]) -> list[Problem]:
    loc: tuple[int | str, ...] = tuple(err.get("loc", ()))
    # Drop pydantic's internal tags for unions/functions, e.g. 'function-after[...]'.
    loc = tuple(p for p in loc if not (isinstance(p, str) and "[" in p and p.endswith("]")))
    path = _format_loc(loc)
    etype = err.get("type", "")
    value = err.get("input", MISSING)
    ctx = err.get("ctx") or {}
    field_name = next((p for p in reversed(loc) if isinstance(p, str)), "")

    if etype == "value_error" and isinstance(ctx.get("error"), FieldProblems | SpecError):
        # FieldProblems from our validators; SpecError from a nested model's __init__
        return [p.prefixed(path) for p in ctx["error"].problems]
    if etype == "value_error" and isinstance(ctx.get("error"), CatalogLookupError):
        return [Problem(path, value, ctx["error"].allowed_message)]

    if etype == "extra_forbidden":
        parent_cls, _ = _walk(model, loc[:-1])
        allowed = list(parent_cls.model_fields) if parent_cls is not None else []
        key = str(loc[-1]) if loc else ""
        return [Problem(path, value, f"unknown field; {unknown_key_hint(key, value, allowed)}")]

    if etype == "missing":
        return [Problem(path, MISSING, "required field is missing")]

    unit = describe_unit(field_name)
    if etype in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
        _, field = _walk(model, loc)
        text = _bounds_text(field, unit)
        if text is None:
            bound = next(iter(ctx.values()), "?")
            op = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<"}.get(etype, "<=")
            text = f"must be {op} {bound}{' ' + unit if unit else ''}"
        return [Problem(path, value, text)]
    if etype in {"float_parsing", "float_type", "int_parsing", "int_type", "int_from_float"}:
        kind = "an integer" if etype.startswith("int") else "a number"
        return [Problem(path, value, f"must be {kind}{' in ' + unit if unit else ''}")]
    if etype in {"finite_number"}:
        return [Problem(path, value, "must be a finite number")]
    if etype in {"bool_parsing", "bool_type"}:
        return [Problem(path, value, "must be true or false")]
    if etype == "literal_error":
        return [Problem(path, value, f"must be one of {ctx.get('expected', '?')}")]
    if etype in {"model_type", "model_attributes_type", "dict_type"}:
        return [Problem(path, value, "must be a mapping of fields")]
    if etype in {"string_type"}:
        return [Problem(path, value, "must be text")]
    if etype in {"string_too_short"}:
        return [Problem(path, value, "must not be empty")]
    if etype in {"list_type", "tuple_type"}:
        return [Problem(path, value, "must be a list")]
    msg = str(err.get("msg", "invalid"))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if msg.startswith("Assertion failed, "):
        msg = msg[len("Assertion failed, ") :]
    return [Problem(path, value, msg)]
