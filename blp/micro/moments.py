"""Micro moments as PyBLP configures them: a survey (`MicroDataset`), averages over it (`MicroPart`) and the
statistic matched (`MicroMoment`). Same names, arguments and callable signatures as PyBLP, so code ports by renaming
the import.

A dataset d has survey weights w_dijt (first choices, I_t x J_t or I_t x (1 + J_t)) or w_dijkt (second choices, with a
third axis over k: J_t or 1 + J_t, index 0 the outside good), returned by `compute_weights(t, products, agents)` for
each market t of `market_ids` (all markets when None). A part p has values v_pijt (v_pijkt), the same shape, from
`compute_values(t, products, agents)`. Its simulated value is the weighted mean

    v_p = sum_t sum_i w_it sum_j(k) w_dij(k)t s_ij(k)t v_pij(k)t / sum_t sum_i w_it sum_j(k) w_dij(k)t s_ij(k)t

with s_ijt agent i's choice probabilities and s_ijkt the probability of j first and k second. A moment m matches
f_m(v) to its observed `value`: f_m(v) = v_p for a single part, else `compute_value(v)` with gradient
`compute_gradient(v)`. Weights and values depend on data only, so they are computed once per solve
(`blp.micro.compiled`); the moments' dependence on theta is `blp.micro.block`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Callable, Optional, Sequence

import numpy as np

from blp.exceptions import SpecificationError
from blp.printing import format_number


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise SpecificationError(f'{what} name must be a non-empty string', parameter='micro_moments')
    return value


class MicroDataset:
    """A micro dataset d (a survey): `observations` N_d and survey weights from `compute_weights(t, products, agents)`
    in the markets `market_ids` (None: every market; one id, a string or a number, is that market).

    `eliminated_product_ids_index` (second choices only): None when the second choice k is made with only the first
    choice j removed; a column of product_ids (0: `product_ids` or `product_ids0`, k: `product_ids<k>`) when the
    whole group of products sharing j's id there is removed (`blp.micro.block`)."""

    def __init__(self, name: str, observations: int, compute_weights: Callable, eliminated_product_ids_index: Any = None,
                 market_ids: Any = None) -> None:
        self.name = _name(name, 'micro dataset')
        where = f'micro_moments (dataset {name!r})'
        if isinstance(observations, bool) or not isinstance(observations, (int, np.integer)) or observations < 1:
            raise SpecificationError(f'micro dataset {name!r}: observations must be a positive integer', parameter=where)
        if not callable(compute_weights):
            raise SpecificationError(f'micro dataset {name!r}: compute_weights must be callable', parameter=where)
        if eliminated_product_ids_index is not None and (
                isinstance(eliminated_product_ids_index, bool) or
                not isinstance(eliminated_product_ids_index, (int, np.integer)) or eliminated_product_ids_index < 0):
            raise SpecificationError(f'micro dataset {name!r}: eliminated_product_ids_index must be None or a '
                                     f'non-negative integer (a column of product_ids)', parameter=where)
        self.observations = int(observations)
        self.compute_weights = compute_weights
        self.eliminated_product_ids_index = None if eliminated_product_ids_index is None else \
            int(eliminated_product_ids_index)
        self.market_ids: Optional[list] = None
        if market_ids is not None:
            if isinstance(market_ids, (str, bytes)) or not isinstance(market_ids, Iterable) or \
                    isinstance(market_ids, np.ndarray) and market_ids.ndim == 0:
                market_ids = [market_ids]  # one market id, as PyBLP takes it (a string is an id, not its letters)
            listed = list(np.asarray(list(market_ids), dtype=object).ravel())
            if not listed:
                raise SpecificationError(f'micro dataset {name!r}: market_ids is empty', parameter=where)
            duplicated = sorted({str(m) for m in listed if listed.count(m) > 1})
            if duplicated:
                raise SpecificationError(f'micro dataset {name!r}: market_ids repeats {", ".join(duplicated)}',
                                         parameter=where)
            self.market_ids = listed

    def __repr__(self) -> str:
        """As PyBLP prints it: `Survey: 1000 Observations in Market 'C61Q1'` (or `in 2 Markets`, `in All Markets`)."""
        if self.market_ids is None:
            markets = 'All Markets'
        elif len(self.market_ids) == 1:
            markets = f'Market {self.market_ids[0]!r}'
        else:
            markets = f'{len(self.market_ids)} Markets'
        return f'{self.name}: {self.observations} Observations in {markets}'


class MicroPart:
    """A micro moment part p: the mean of `compute_values(t, products, agents)` over `dataset`."""

    def __init__(self, name: str, dataset: MicroDataset, compute_values: Callable) -> None:
        self.name = _name(name, 'micro part')
        if not isinstance(dataset, MicroDataset):
            raise SpecificationError(f'micro part {name!r}: dataset must be a MicroDataset', parameter='micro_moments')
        if not callable(compute_values):
            raise SpecificationError(f'micro part {name!r}: compute_values must be callable', parameter='micro_moments')
        self.dataset, self.compute_values = dataset, compute_values

    def __repr__(self) -> str:
        """As PyBLP prints it: the part's name on its dataset."""
        return f'{self.name} on {self.dataset!r}'


def default_compute_value(part_values: np.ndarray) -> float:
    """f(v) = v for a moment of one part."""
    return float(np.squeeze(part_values))


def default_compute_gradient(part_values: np.ndarray) -> np.ndarray:
    return np.ones_like(part_values)


class MicroMoment:
    """A micro moment m: the observed `value` of f_m(v) over its `parts` (one part: f_m(v) = v_p; several:
    `compute_value(v)` and `compute_gradient(v)` are required)."""

    def __init__(self, name: str, value: Any, parts: MicroPart | Sequence[MicroPart],
                 compute_value: Optional[Callable] = None, compute_gradient: Optional[Callable] = None) -> None:
        self.name = _name(name, 'micro moment')
        where = f'micro_moments[{name}]'
        observed = np.asarray(value, dtype=float).ravel() if np.ndim(value) <= 1 else np.array([])
        if observed.size != 1 or not np.isfinite(observed).all():
            raise SpecificationError(f'micro moment {name!r}: value must be a finite number', parameter=where)
        if isinstance(parts, MicroPart):
            parts = [parts]
            compute_value = compute_value or default_compute_value
            compute_gradient = compute_gradient or default_compute_gradient
        else:
            parts = list(parts)
            if not parts or not all(isinstance(part, MicroPart) for part in parts):
                raise SpecificationError(f'micro moment {name!r}: parts must be a MicroPart or a list of them',
                                         parameter=where)
            if compute_value is None or compute_gradient is None:
                raise SpecificationError(f'micro moment {name!r}: with a list of parts, compute_value and '
                                         f'compute_gradient must both be given', parameter=where)
        if not callable(compute_value) or not callable(compute_gradient):
            raise SpecificationError(f'micro moment {name!r}: compute_value and compute_gradient must be callable',
                                     parameter=where)
        names = [part.name for part in parts]
        if len(set(names)) != len(names):
            raise SpecificationError(f'micro moment {name!r}: its parts must have distinct names', parameter=where)
        self.value = float(observed[0])
        self.parts: list[MicroPart] = list(parts)
        self.compute_value, self.compute_gradient = compute_value, compute_gradient

    def __repr__(self) -> str:
        """As PyBLP prints it: the name, the observed value (by `options.digits`) and the parts."""
        return f'{self.name}: {format_number(self.value)} ({"; ".join(map(repr, self.parts))})'


def check_micro_moments(micro_moments: Any) -> list[MicroMoment]:
    """A list of distinct micro moments whose parts and datasets have unique names (as PyBLP requires)."""
    if isinstance(micro_moments, MicroMoment):
        micro_moments = [micro_moments]
    try:
        moments = list(micro_moments or [])
    except TypeError:
        raise SpecificationError('micro_moments must be a list of MicroMoment', parameter='micro_moments') from None
    if not all(isinstance(moment, MicroMoment) for moment in moments):
        raise SpecificationError('micro_moments must be a list of MicroMoment', parameter='micro_moments')
    seen: dict[tuple[str, str], Any] = {}
    for moment in moments:
        if sum(1 for other in moments if other is moment) > 1:
            raise SpecificationError(f'micro moment {moment.name!r} is given twice',
                                     parameter=f'micro_moments[{moment.name}]')
        items = [('micro moment', moment)] + [('micro part', part) for part in moment.parts] + \
            [('micro dataset', part.dataset) for part in moment.parts]
        for kind, item in items:
            if seen.setdefault((kind, item.name), item) is not item:
                raise SpecificationError(f'two different {kind}s are named {item.name!r}',
                                         parameter=f'micro_moments[{moment.name}]')
    return moments
