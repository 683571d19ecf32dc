"""Load agent specs and scenarios from YAML/JSON files or mappings, and list the examples."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from nanobridge.domain._base import SpecModel
from nanobridge.domain._io import read_mapping
from nanobridge.domain.agent import AgentSpec
from nanobridge.domain.errors import NO_VALUE, Problem, SpecError
from nanobridge.domain.scenario import Scenario

__all__ = [
    "example_agent_names",
    "example_path",
    "example_scenario_names",
    "load_agent",
    "load_example_agent",
    "load_example_scenario",
    "load_scenario",
]

M = TypeVar("M", bound=SpecModel)
Source = str | Path | Mapping[str, Any]


def _load(model: type[M], source: Source, wrapper_key: str) -> M:
    if isinstance(source, model):
        return source
    if isinstance(source, Mapping):
        data = dict(source)
        if set(data) >= {wrapper_key} and isinstance(data[wrapper_key], Mapping) and len(data) <= 3:
            data = dict(data[wrapper_key])
        return model.from_dict(data)
    if isinstance(source, str | Path):
        path = Path(source)
        data = read_mapping(path, kind=model.spec_kind, unwrap=wrapper_key)
        return model.from_dict(data, source=str(path))
    raise SpecError(
        [Problem("<root>", NO_VALUE, f"expected a file path or a mapping, got {type(source).__name__}")],
        kind=model.spec_kind,
    )


def load_agent(source: Source) -> AgentSpec:
    """An :class:`AgentSpec` from a ``.yaml``/``.yml``/``.json`` file or a mapping.

    A study file holding ``{agent: {...}, scenario: {...}}`` is accepted too. Raises
    :class:`SpecError` listing every problem (file and line for malformed YAML/JSON).
    """
    return _load(AgentSpec, source, "agent")


def load_scenario(source: Source) -> Scenario:
    """A :class:`Scenario` from a ``.yaml``/``.yml``/``.json`` file or a mapping (see
    :func:`load_agent`)."""
    return _load(Scenario, source, "scenario")


def _examples_dir(kind: str) -> Any:
    return resources.files("nanobridge") / "data" / "examples" / kind


def _names(kind: str) -> list[str]:
    folder = _examples_dir(kind)
    if not folder.is_dir():
        return []
    return sorted(f.name.rsplit(".", 1)[0] for f in folder.iterdir() if f.name.endswith((".yaml", ".yml")))


def example_agent_names() -> list[str]:
    """Names of the packaged example agents (``data/examples/agents/*.yaml``)."""
    return _names("agents")


def example_scenario_names() -> list[str]:
    """Names of the packaged example scenarios (``data/examples/scenarios/*.yaml``)."""
    return _names("scenarios")


def example_path(kind: str, name: str) -> Path:
    """Filesystem path of a packaged example (``kind`` is ``'agents'`` or ``'scenarios'``)."""
    if kind not in {"agents", "scenarios"}:
        raise ValueError(f"kind must be 'agents' or 'scenarios', got {kind!r}")
    names = _names(kind)
    stem = name.rsplit(".", 1)[0] if name.endswith((".yaml", ".yml")) else name
    if stem not in names:
        raise SpecError(
            [Problem(f"examples/{kind}", name, f"no such example; available: {', '.join(names)}")],
            kind=kind[:-1],
        )
    traversable = _examples_dir(kind) / f"{stem}.yaml"
    with resources.as_file(traversable) as path:  # package data is on disk for normal installs
        return Path(path)


def load_example_agent(name: str) -> AgentSpec:
    """A packaged example agent by name, e.g. ``'cdot_pet_optical'``."""
    return load_agent(example_path("agents", name))


def load_example_scenario(name: str) -> Scenario:
    """A packaged example scenario by name, e.g. ``'mouse_tumor'``."""
    return load_scenario(example_path("scenarios", name))
