"""Built nodes with demographics from agent data, as PyBLP pairs them: each market needs at least as many agent rows
as the rule builds, and the first rows of each market carry the demographics (the rest are dropped). Exercise 2's
problem (pi on log income) with Gauss-Hermite product rules and sparse grids gives PyBLP's objective."""

from __future__ import annotations

import pyblp
import pytest

import blp
from examples import cereal

X1, ABSORB, X2 = '0 + prices', 'C(market_ids) + C(product_ids)', '0 + mushy + prices'
SIGMA, PI = [[0, 0], [0, 0.5]], [[0.2], [0.5]]


@pytest.mark.parametrize('specification, size, nodes', [('product', 5, 25), ('product', 7, 49), ('grid', 3, 13),
                                                        ('grid', 4, 29)])
def test_quadrature_with_more_agent_rows_than_nodes_gives_pyblps_objective(specification: str, size: int,
                                                                         nodes: int) -> None:
    """The rules' nodes come in PyBLP's order (sparse grids sorted), so the same demographics meet the same nodes."""
    products, agents = cereal.product_data(), cereal.agent_data(60)
    ours = blp.Problem((blp.Formulation(X1, absorb=ABSORB), blp.Formulation(X2)), products,
                       blp.Formulation('0 + log_income'), agents, blp.Integration(specification, size))
    pyblp.options.verbose = False
    theirs = pyblp.Problem((pyblp.Formulation(X1, absorb=ABSORB), pyblp.Formulation(X2)), products,
                           pyblp.Formulation('0 + log_income'), agents, pyblp.Integration(specification, size))
    expected = theirs.solve(sigma=SIGMA, pi=PI, method='1s', optimization=pyblp.Optimization('return'))
    found = ours.solve(sigma=SIGMA, pi=PI, method='1s', optimization=blp.Optimization('return'))
    assert ours.agents is not None and ours.agents.demographics.shape[1] == nodes
    assert float(found.objective) == pytest.approx(float(expected.objective), rel=1e-10)


def test_fewer_agent_rows_than_nodes_are_refused_naming_the_integration_size() -> None:
    with pytest.raises(blp.SpecificationError) as caught:
        blp.Problem((blp.Formulation(X1, absorb=ABSORB), blp.Formulation(X2)), cereal.product_data(),
                    blp.Formulation('0 + log_income'), cereal.agent_data(20), blp.Integration('product', 5))
    assert caught.value.parameter == 'integration.size' and 'at least as many agent rows' in str(caught.value)
