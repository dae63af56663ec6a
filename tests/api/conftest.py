"""Data for the API tests: the cereal products of the pure-logit exercise."""

from __future__ import annotations

import pandas as pd
import pytest
from api_support import PRODUCT_COLUMNS

from examples import cereal


@pytest.fixture(scope='session')
def products() -> pd.DataFrame:
    return cereal.product_data('price')[PRODUCT_COLUMNS]
