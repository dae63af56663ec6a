"""A spec for the API built from the core's objects (`blp.Formulation`, `blp.Integration`, `blp.Optimization`,
`blp.Iteration`), so a notebook can write the same arguments it would give `blp.Problem(...).solve(...)`.

Objects are read by their attributes, not their types: the client needs no numerics installed to send a spec.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Sequence


def _formulation(value: Any) -> Optional[dict[str, Any]]:
    if value is None or isinstance(value, dict):
        return value
    return {'formula': value.formula, **({'absorb': value.absorb} if getattr(value, 'absorb', None) else {})}


def _options(value: Any) -> Any:
    """Dataclass options (Integration, Optimization, Iteration) as JSON objects; numpy arrays as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _options(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if hasattr(value, 'tolist'):
        return value.tolist()
    if isinstance(value, dict):
        return {key: _options(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_options(item) for item in value]
    return value


def build_spec(product_formulations: Sequence[Any], agent_formulation: Any = None, integration: Any = None,
               **solve: Any) -> dict[str, Any]:
    """`{"problem": ..., "solve": ...}` from the arguments of `blp.Problem` (without the data) and of `solve`."""
    problem: dict[str, Any] = {'product_formulations': [_formulation(f) for f in product_formulations]}
    if agent_formulation is not None:
        problem['agent_formulation'] = _formulation(agent_formulation)
    if integration is not None:
        problem['integration'] = _options(integration)
    return {'problem': problem, 'solve': {name: _options(value) for name, value in solve.items()}}


def as_spec(spec: Any) -> dict[str, Any]:
    """A spec given as a dict, or as a pydantic `blp.spec.EstimateSpec`, as the JSON object the API takes."""
    if hasattr(spec, 'model_dump'):
        return spec.model_dump(mode='json', exclude_none=True)
    if not isinstance(spec, dict):
        raise TypeError('spec must be a dict, a blp.spec.EstimateSpec, or built with blp_client.build_spec(...)')
    return spec
