"""Every integration rule's estimate converges to the quadrature limit as its size grows (cereal, sigma on prices)."""

import pytest

import blp
from examples import cereal


def estimate_sigma(specification: str, size: int) -> float:
    products = cereal.product_data()
    products = products.drop(columns=['demand_instruments1', 'demand_instruments2'])
    products = products.rename(columns={'demand_instruments3': 'demand_instruments1'})
    problem = blp.Problem((blp.Formulation('0 + prices', absorb='C(market_ids) + C(product_ids)'),
                           blp.Formulation('0 + prices')), products,
                          integration=blp.Integration.seeded(specification, size, 1))
    results = problem.solve(sigma=1, method='1s', optimization=blp.Optimization('l-bfgs-b', {'gtol': 1e-10}))
    assert results.converged and results.gradient_norm < 1e-8
    return float(results.sigma[0, 0])


@pytest.fixture(scope='module')
def limit() -> float:
    return estimate_sigma('product', 15)


# Monte Carlo's error is noisy in the size (with PyBLP's RandomState draws and seed 1: 2.5e-3 at 50 draws, 2.6e-2 at
# 200, 2.6e-3 at 1,000), so its coarse size is one whose error is reliably larger (1.9e-1 at 10).
@pytest.mark.parametrize('specification, small, large', [
    ('product', 3, 9), ('grid', 3, 9), ('monte_carlo', 10, 1000), ('halton', 50, 1000), ('sobol', 64, 1024)])
def test_estimates_converge_as_integration_size_grows(specification, small, large, limit):
    coarse, fine = (abs(estimate_sigma(specification, size) - limit) / limit for size in (small, large))
    assert fine < coarse, f'{specification}: error {fine:.2e} at size {large} is not below {coarse:.2e} at {small}'
    assert fine < 5e-3, f'{specification}: relative error {fine:.2e} at size {large}'
