"""Built nodes with demographics from agent data, as PyBLP pairs them: each market needs at least as many agent rows
as the rule builds, and the first rows of each market carry the demographics (the rest are dropped). Exercise 2's
problem (pi on log income) with Gauss-Hermite product rules gives PyBLP's objective."""

from __future__ import annotations

import pyblp
import pytest

import blp
from examples import cereal

X1, ABSORB, X2 = '0 + prices', 'C(market_ids) + C(product_ids)', '0 + mushy + prices'
SIGMA, PI = [[0, 0], [0, 0.5]], [[0.2], [0.5]]


@pytest.mark.parametrize('size', [5, 7])
def test_product_rules_with_more_agent_rows_than_nodes_give_pyblps_objective(size: int) -> None:
    products, agents = cereal.product_data(), cereal.agent_data(60)
    ours = blp.Problem((blp.Formulation(X1, absorb=ABSORB), blp.Formulation(X2)), products,
                       blp.Formulation('0 + log_income'), agents, blp.Integration('product', size))
    pyblp.options.verbose = False
    theirs = pyblp.Problem((pyblp.Formulation(X1, absorb=ABSORB), pyblp.Formulation(X2)), products,
                           pyblp.Formulation('0 + log_income'), agents, pyblp.Integration('product', size))
    expected = theirs.solve(sigma=SIGMA, pi=PI, method='1s', optimization=pyblp.Optimization('return'))
    found = ours.solve(sigma=SIGMA, pi=PI, method='1s', optimization=blp.Optimization('return'))
    assert ours.agents is not None and ours.agents.demographics.shape[1] == size ** 2
    assert float(found.objective) == pytest.approx(float(expected.objective), rel=1e-10)


def test_fewer_agent_rows_than_nodes_are_refused_naming_the_integration_size() -> None:
    with pytest.raises(blp.SpecificationError) as caught:
        blp.Problem((blp.Formulation(X1, absorb=ABSORB), blp.Formulation(X2)), cereal.product_data(),
                    blp.Formulation('0 + log_income'), cereal.agent_data(20), blp.Integration('product', 5))
    assert caught.value.parameter == 'integration.size' and 'at least as many agent rows' in str(caught.value)
