"""Micro moment values f_m(v) at the estimates for any micro moments, PyBLP's `compute_micro_values`: to see what
the model says about survey statistics it was not matched to, or to build moments before a survey exists.

Each part's value is v_p = sum(A_p pi) / sum(A_d pi) over its dataset's markets (`blp.micro.block.weighted_sum`,
first or second choices; with nests, second choices by `blp.micro.nested`), with pi the choice probabilities at the
estimated delta and theta; each moment's value is its `compute_value(v)`. The moments' observed `value`s play no part.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Optional

import numpy as np

from blp.exceptions import SpecificationError
from blp.micro.block import weighted_sum
from blp.micro.compiled import compile_micro
from blp.micro.from_spec import resolve_micro_moments
from blp.micro.nested import NestedSecondChoices
from blp.model.choices import Choices, Nests


def part_values(compiled: Any, choices: Choices, nests: Optional[Nests] = None) -> np.ndarray:
    """v_p for every part of the compiled micro moments, from choices at the estimates (probabilities T x J x I; with
    `nests`, second choices are `blp.micro.nested`'s)."""
    Q_all = np.concatenate([choices.outside[:, :, None], choices.probabilities.transpose(0, 2, 1)], axis=2)
    values = np.zeros(compiled.PM)
    for data in compiled.datasets:
        width = data.weights.shape[1]
        Q = Q_all[data.markets][:, :width]
        total: Callable[[np.ndarray], float] = partial(_logit_total, Q=Q, second=data.second, groups=data.groups)
        if data.second and nests is not None and choices.conditionals is not None:
            within = nests.restrict(data.markets)
            same, inside = within.same_nest, choices.probabilities[data.markets][:, :, :width]
            total = NestedSecondChoices(Q, choices.conditionals[data.markets][:, :, :width], same @ inside,
                                        within.rho_products, same, data.groups).total
        denominator = total(data.weights)
        for position, p in enumerate(data.parts):
            with np.errstate(divide='ignore', invalid='ignore'):
                values[p] = total(data.weighted_values[position]) / denominator
    return values


def _logit_total(A: np.ndarray, Q: np.ndarray, second: bool, groups: Optional[np.ndarray]) -> float:
    return weighted_sum(A, Q, second, False, groups)[0]


def compute_micro_values(results: Any, micro_moments: Any) -> np.ndarray:
    """f_m(v) for each of `micro_moments` (MicroMoment objects or their JSON form) at the estimates, as PyBLP
    returns them: a flat array of MM values."""
    problem = results.problem
    compiled = compile_micro(problem, resolve_micro_moments(micro_moments, problem))
    if compiled is None:
        raise SpecificationError('micro_moments is empty: give at least one MicroMoment', parameter='micro_moments')
    v = part_values(compiled, results._choices, results._model.nests)
    values = np.zeros(compiled.MM)
    for m, moment in enumerate(compiled.moments):
        value = np.asarray(moment.compute_value(v[compiled.part_indices(moment)]), dtype=float).ravel()
        if value.size != 1:
            raise SpecificationError(f'compute_value of micro moment {moment.name!r} must return one number',
                                     parameter=f'micro_moments[{moment.name}]')
        values[m] = value[0]
    return values
