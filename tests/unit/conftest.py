"""Small, fast versions of the cereal problem for unit tests."""

import pytest

from examples import cereal


@pytest.fixture(scope='session')
def products():
    """Ten markets of the cereal data with the random-coefficients instruments."""
    frame = cereal.product_data()
    return frame[frame['market_ids'].isin(frame['market_ids'].unique()[:10])].reset_index(drop=True)


@pytest.fixture(scope='session')
def agents(products):
    frame = cereal.agent_data(size=40)
    return frame[frame['market_ids'].isin(products['market_ids'].unique())].reset_index(drop=True)


@pytest.fixture(scope='session')
def nested_products(products):
    """The products nested by mushy, with two more instruments for the nesting parameters."""
    return products.assign(nesting_ids=products['mushy'], demand_instruments4=products['demand_instruments0'] ** 2,
                           demand_instruments5=products['demand_instruments3'] * products['mushy'])
