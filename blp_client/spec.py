"""A spec for the API built from the core's objects (`blp.Formulation`, `blp.Integration`, `blp.Optimization`,
`blp.Iteration`), so a notebook can write the same arguments it would give `blp.Problem(...).solve(...)`.

Objects are read by their attributes, not their types: the client needs no numerics installed to send a spec.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional, Sequence


def _formulation(value: Any) -> Optional[dict[str, Any]]:
    if value is None or isinstance(value, dict):
        return value
    return {'formula': value.formula, **({'absorb': value.absorb} if getattr(value, 'absorb', None) else {})}


def _options(value: Any) -> Any:
    """Dataclass options (Optimization, Iteration) as JSON objects; numpy arrays as lists. NaN and infinities are
    null, which is what they mean in PyBLP's arguments: NaN in beta or gamma concentrates an element out, an infinite
    bound is no bound (JSON has neither number)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _options(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if hasattr(value, 'tolist'):
        return _options(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _options(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_options(item) for item in value]
    return value


# Arguments of `blp.Problem` (PyBLP's names) that the spec carries in `problem`, not in `solve`.
PROBLEM_OPTIONS = ('rc_types', 'epsilon_scale', 'costs_type', 'instruments')


def _integration(value: Any) -> Any:
    """A `blp.Integration` as the spec's `{"specification", "size", "seed"}`: the spec carries only the seed of
    PyBLP's `specification_options` (0 when not given, as `blp.Integration`'s)."""
    if isinstance(value, dict) or not hasattr(value, 'specification_options'):
        return _options(value)
    options = dict(value.specification_options or {})
    others = sorted(set(options) - {'seed'})
    if others:
        raise ValueError(f'integration: the spec takes only a seed among specification_options, not {others}')
    return {'specification': value.specification, 'size': int(value.size), 'seed': _options(options.get('seed', 0))}


def build_spec(product_formulations: Sequence[Any], agent_formulation: Any = None, integration: Any = None,
               **arguments: Any) -> dict[str, Any]:
    """`{"problem": ..., "solve": ...}` from the arguments of `blp.Problem` (without the data: `rc_types`,
    `epsilon_scale`, `costs_type`, and the spec's `instruments`, go to the problem) and of `solve` (the rest)."""
    problem: dict[str, Any] = {'product_formulations': [_formulation(f) for f in product_formulations]}
    if agent_formulation is not None:
        problem['agent_formulation'] = _formulation(agent_formulation)
    if integration is not None:
        problem['integration'] = _integration(integration)
    problem.update({name: _options(arguments.pop(name)) for name in PROBLEM_OPTIONS
                    if arguments.get(name) is not None})
    return {'problem': problem, 'solve': {name: _options(value) for name, value in arguments.items()}}


def as_spec(spec: Any) -> dict[str, Any]:
    """A spec given as a dict, or as a pydantic `blp.spec.EstimateSpec`, as the JSON object the API takes."""
    if hasattr(spec, 'model_dump'):
        return spec.model_dump(mode='json', exclude_none=True)
    if not isinstance(spec, dict):
        raise TypeError('spec must be a dict, a blp.spec.EstimateSpec, or built with blp_client.build_spec(...)')
    return spec
