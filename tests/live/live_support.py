"""What the client and dashboard tests share: the cereal random-coefficients spec built from the core's objects,
a small multi-start, and PyBLP's stored numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import blp
import blp_client

FIXTURES = Path(__file__).resolve().parents[1] / 'reference' / 'fixtures'
ABSORB = 'C(market_ids) + C(product_ids)'
STARTS = {'count': 3, 'seed': 0, 'bounds': {'sigma_bounds': [[[0, 0], [0, 0]], [[0, 0], [0, 10]]],
                                            'pi_bounds': [[[-5], [-20]], [[5], [20]]]}}


def rc_spec(**solve: object) -> dict:
    """The cereal exercise's sigma-on-prices model, built from the core's objects as a notebook would."""
    return blp_client.build_spec(
        (blp.Formulation('0 + prices', absorb=ABSORB), blp.Formulation('0 + mushy + prices')),
        agent_formulation=blp.Formulation('0 + log_income'),
        **{'sigma': np.array([[0, 0], [0, 1.0]]), 'pi': [[0.2], [1]], 'method': '1s',
           'optimization': blp.Optimization('trust-constr', {'gtol': 1e-8, 'xtol': 1e-8}), **solve})
