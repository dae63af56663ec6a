"""PyBLP's data builders: `build_id_data`, `build_ownership`, `build_matrix` and `data_to_dict`.

They return what PyBLP returns (record arrays with N x 1 fields, N x max J ownership matrices padded with NaN, plain
matrices, dictionaries of vectors) so that code written for PyBLP runs unchanged; the core itself reads the same data
through `blp.primitives.products.as_frame`, which accepts these record arrays.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Union

import numpy as np
import pandas as pd

from blp.configurations.formulation import Formulation
from blp.exceptions import DataError, SpecificationError
from blp.primitives.absorb import Absorber, absorb_codes
from blp.primitives.products import DataLike, as_frame, ids_column, record_array, require_columns

Kappa = Callable[[Any, Any], float]
KAPPA_SPECIAL_CASES = ('monopoly', 'single')


def build_id_data(T: int, J: int, F: int) -> np.recarray:
    """A balanced panel of `T` markets with `J` products each, shared among `F` firms (products in order, firms with
    smaller ids taking the excess when `F` does not divide `J`): PyBLP's `market_ids` and `firm_ids` (N x 1 objects)."""
    for name, value, least in (('T', T, 1), ('F', F, 1), ('J', J, F if isinstance(F, int) else 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise SpecificationError(f'{name} must be an integer of at least {least}, not {value!r}', parameter=name)
    firms = np.floor(np.arange(J) / (J / F)).astype(int)
    market_ids = np.repeat(np.arange(T), J).astype(object)[:, None]
    firm_ids = np.tile(firms, T).astype(object)[:, None]
    for ids in (market_ids, firm_ids):  # Python ints in the object arrays, as PyBLP's
        ids[:, 0] = [int(value) for value in ids[:, 0]]
    return record_array({'market_ids': market_ids, 'firm_ids': firm_ids})


def _kappa(kappa_specification: Union[None, str, Kappa]) -> Optional[Kappa]:
    """The cooperation function for a specification (None for the special cases, which need no firm ids)."""
    if kappa_specification is None:
        return lambda f, g: float(f == g)
    if isinstance(kappa_specification, str):
        if kappa_specification not in KAPPA_SPECIAL_CASES:
            raise SpecificationError(f"kappa_specification {kappa_specification!r} is not one of "
                                     f"{', '.join(KAPPA_SPECIAL_CASES)} or a function kappa(f, g)",
                                     parameter='kappa_specification')
        return None
    if not callable(kappa_specification):
        raise SpecificationError('kappa_specification must be a function kappa(f, g), \'monopoly\' or \'single\'',
                                 parameter='kappa_specification')
    return kappa_specification


def build_ownership(product_data: DataLike, kappa_specification: Union[None, str, Kappa] = None) -> np.ndarray:
    """Stacked ownership matrices (N x max J_t, NaN beyond a market's products): row j holds kappa(f_j, f_k) for the
    products k of j's market in their order; `'monopoly'` is all ones and `'single'` the identity (no firm ids)."""
    kappa = _kappa(kappa_specification)
    frame = as_frame(product_data, 'product_data')
    require_columns(frame, ['market_ids'] + (['firm_ids'] if kappa is not None else []), 'product_data')
    codes = pd.factorize(pd.Series(ids_column(frame, 'market_ids', 'product_data'), dtype=object))[0]
    firms = ids_column(frame, 'firm_ids', 'product_data') if kappa is not None else None
    ownership = np.full((codes.size, np.bincount(codes).max()), np.nan)
    for market in range(codes.max() + 1):
        rows = np.flatnonzero(codes == market)
        if kappa_specification == 'monopoly':
            block = np.ones((rows.size, rows.size))
        elif kappa is None:
            block = np.eye(rows.size)
        else:
            assert firms is not None
            block = np.array([[kappa(firms[j], firms[k]) for k in rows] for j in rows], dtype=float).reshape(
                rows.size, rows.size)
        ownership[rows, :rows.size] = block
    return ownership


def build_matrix(formulation: Formulation, data: DataLike) -> np.ndarray:
    """The matrix a formulation builds from data, with its `absorb` fixed effects absorbed (PyBLP's `build_matrix`)."""
    if not isinstance(formulation, Formulation):
        raise SpecificationError('formulation must be a Formulation', parameter='formulation')
    frame = as_frame(data, 'data')
    matrix = formulation.build(frame, 'formulation').matrix
    return Absorber(absorb_codes(formulation, frame, 'formulation'))(matrix)


def data_to_dict(data: Any, ignore_empty: bool = True) -> dict[str, np.ndarray]:
    """A record array as a dictionary of vectors: an N x 1 field keeps its name, an N x K field becomes `name0` ..
    `name<K-1>`, and an empty field is left out unless `ignore_empty` is False (PyBLP's `data_to_dict`). Anything with
    a `to_record()` (the core's product records) is converted first."""
    if hasattr(data, 'to_record'):
        data = data.to_record()
    if not (isinstance(data, np.ndarray) and data.dtype.names):
        raise DataError('data must be a NumPy record array', dataset='data')
    converted: dict[str, np.ndarray] = {}
    for name in data.dtype.names:
        values = np.asarray(data[name])
        values = values.reshape(values.shape[0], -1)
        if values.shape[1] == 0:
            if not ignore_empty:
                converted[name] = values.flatten()
        elif values.shape[1] == 1:
            converted[name] = values[:, 0]
        else:
            converted.update({f'{name}{index}': values[:, index] for index in range(values.shape[1])})
    return converted
