"""Micro moments on markets of unequal size (PyBLP's Petrin tutorial has 155 to 210 products per market) give PyBLP's
objective and micro values: a market's I_t x (1 + J_t) weights and values sit at its own products, whatever the
largest market's J (the bug this guards against placed them by the largest J). PyBLP run now, at fixed theta."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyblp
from micro_workloads import FORMULATIONS, PI_START, SURVEY_MARKETS, exercise3_micro_moments

import blp
from examples import cereal


def data() -> tuple:
    """Six cereal markets, the two surveyed ones cut to 24 and 17 products (the rest keep 24)."""
    products = cereal.product_data()
    products = products[products['market_ids'].isin(products['market_ids'].unique()[:6])]
    second = products.index[products['market_ids'] == SURVEY_MARKETS[1]]
    products = products.drop(index=second[-7:]).reset_index(drop=True)
    agents = cereal.agent_data(size=50)
    return products, agents[agents['market_ids'].isin(products['market_ids'].unique())].reset_index(drop=True)


def with_outside_weights(module: Any) -> list:
    """The exercise's micro moments and one whose weights and values include the outside good (1 + J_t, as Petrin's)."""
    dataset = module.MicroDataset('With outside', 300, lambda t, p, a: np.ones((a.size, 1 + p.size)),
                                  market_ids=SURVEY_MARKETS)
    part = module.MicroPart('log income x mushy', dataset,
                            lambda t, p, a: np.outer(a.demographics[:, 0], np.r_[0, p.X2[:, 1]]))
    return exercise3_micro_moments(module, 'all') + [module.MicroMoment('E[log income x mushy]', 2.5, part)]


def evaluate(module: Any) -> Any:
    products, agents = data()
    pyblp.options.verbose = False
    formulations = [module.Formulation(formula, absorb=absorb) for formula, absorb in FORMULATIONS]
    problem = module.Problem(formulations, products, module.Formulation('0 + log_income'), agents)
    return problem.solve(sigma=np.diag([0.5, 0.5, 1.0]), pi=PI_START, method='1s',
                         optimization=module.Optimization('return'), micro_moments=with_outside_weights(module))


def test_micro_moments_on_markets_of_unequal_size_are_pyblps() -> None:
    ours, theirs = evaluate(blp), evaluate(pyblp)
    np.testing.assert_allclose(np.ravel(ours.micro_values), np.ravel(theirs.micro_values), rtol=1e-8)
    np.testing.assert_allclose(ours.objective, theirs.objective, rtol=1e-6)
    np.testing.assert_allclose(ours.beta, theirs.beta, rtol=1e-6)
