"""Model breadth through the API, a real Redis and a real Celery worker: built instruments in the spec."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import blp
from examples import cereal
from queue_support import LOGIT_SPEC, submit, wait_for

pytestmark = pytest.mark.queue
DIFFERENTIATION = {'formula': '0 + price_instrument', 'version': 'quadratic'}


def estimates(result: dict) -> dict:
    return {(p['kind'], p['row']): (p['value'], p['se']) for p in result['results']['parameters']}


def test_an_estimate_with_built_differentiation_instruments_matches_the_core_with_the_columns_by_hand(api, datasets):
    spec = copy.deepcopy(LOGIT_SPEC)
    spec['problem']['instruments'] = {'differentiation': DIFFERENTIATION}
    job = submit(api, spec, datasets['products']).json()
    assert wait_for(api, job['id'])['status'] == 'succeeded'
    result = api.get(f"/v1/jobs/{job['id']}/result").json()
    assert result['provenance']['spec']['problem']['instruments']['differentiation']['version'] == 'quadratic'

    products = cereal.product_data()
    built = blp.build_differentiation_instruments(blp.Formulation('0 + price_instrument'), products, 'quadratic')
    first = 1 + max(int(c.removeprefix('demand_instruments')) for c in products if c.startswith('demand_instruments'))
    for offset in range(built.shape[1]):
        products[f'demand_instruments{first + offset}'] = built[:, offset]
    core = blp.Problem(blp.Formulation('0 + prices', absorb='C(market_ids) + C(product_ids)'), products).solve(
        method='1s')
    assert result['results']['dimensions']['MD'] == core.problem.MD == 6
    value, se = estimates(result)[('beta', 'prices')]
    np.testing.assert_allclose([value, se], [core.beta[0, 0], core.beta_se[0, 0]], rtol=1e-10)
