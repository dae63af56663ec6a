"""`blp.Simulation`'s refusals (PyBLP's rules, named parameters) and PyBLP's record arrays as input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import blp
from blp.primitives.products import as_frame
from blp.simulation.records import to_records

IDS = pd.DataFrame({'market_ids': np.repeat([0, 1, 2], 4), 'firm_ids': np.tile([0, 0, 1, 2], 3)})
DEMAND = (blp.Formulation('1 + prices + x'), blp.Formulation('0 + x'))
SUPPLY = (*DEMAND, blp.Formulation('0 + x + z'))


def simulate(**arguments: object) -> blp.Simulation:
    defaults = dict(product_formulations=SUPPLY, product_data=IDS, beta=[1, -2, 2], sigma=1, gamma=[1, 4],
                    integration=blp.Integration('product', 3), seed=0)
    return blp.Simulation(**{**defaults, **arguments})  # type: ignore[arg-type]


@pytest.mark.parametrize(('arguments', 'parameter'), [
    (dict(product_formulations=DEMAND, gamma=None), 'xi'),        # no supply side: PyBLP draws no xi alone
    (dict(xi=np.zeros(12)), 'omega'),                              # xi without omega
    (dict(beta=[1, -2]), 'beta'),
    (dict(sigma=[[1, 0], [0, 1]]), 'sigma'),
    (dict(gamma=[1]), 'gamma'),
    (dict(rho=0.5), 'rho'),                                        # no nesting_ids
    (dict(phi=[[0.5, 0], [0, 0.5]]), 'phi'),
    (dict(integration=None), 'integration'),
])
def test_refusals_name_the_parameter(arguments: dict, parameter: str) -> None:
    with pytest.raises(blp.SpecificationError) as raised:
        simulate(**arguments)
    assert raised.value.parameter == parameter


def test_costs_are_needed_without_a_supply_side() -> None:
    simulation = simulate(product_formulations=DEMAND, gamma=None, xi=np.zeros(12))
    with pytest.raises(blp.SpecificationError, match='costs'):
        simulation.replace_endogenous()
    prices = simulation.replace_endogenous(costs=np.full(12, 0.5)).product_data['prices']
    assert prices.shape == (12, 1) and (prices > 0.5).all()


def test_record_arrays_round_trip_through_as_frame() -> None:
    """PyBLP's data are record arrays of N x K fields; the core reads them as it reads frames and mappings."""
    frame = simulate().replace_endogenous()._frame
    records = to_records(frame)
    assert records['prices'].shape == (12, 1)
    pd.testing.assert_frame_equal(as_frame(records, 'product_data'), frame, check_dtype=False)
    with pytest.raises(blp.DataError):
        as_frame(np.zeros(3), 'product_data')


def test_unique_ids_and_dimensions() -> None:
    simulation = simulate()
    assert simulation.unique_market_ids.ravel().tolist() == [0, 1, 2]
    assert simulation.unique_firm_ids.ravel().tolist() == [0, 1, 2]
    assert (simulation.T, simulation.N, simulation.F, simulation.I, simulation.K1, simulation.K2, simulation.K3) == \
        (3, 12, 3, 9, 3, 1, 2)


def test_fewer_nodes_columns_than_x2_go_to_sigmas_nonzero_columns() -> None:
    """PyBLP's rule, as in estimation (its Petrin tutorial simulates with 6 nodes columns for 11 X2 columns): agent
    data with one nodes column for X2 = [1, x] and sigma nonzero on x only give the prices of nodes (0, node)."""
    rows = 5
    nodes = np.linspace(-1.5, 1.5, rows)
    agents = pd.DataFrame({'market_ids': np.repeat([0, 1, 2], rows), 'weights': 1 / rows,
                           'nodes0': np.tile(nodes, 3)})
    full = agents.assign(nodes0=0.0, nodes1=np.tile(nodes, 3))
    formulations = (blp.Formulation('1 + prices + x'), blp.Formulation('1 + x'))

    def prices(agent_data: pd.DataFrame) -> np.ndarray:
        simulation = blp.Simulation(formulations, IDS, beta=[1, -2, 2], sigma=[[0, 0], [0, 1]], xi=np.zeros(12),
                                    agent_data=agent_data, seed=0)
        return simulation.replace_endogenous(costs=np.full(12, 0.5)).product_data['prices']

    np.testing.assert_allclose(prices(agents), prices(full), rtol=1e-12)
