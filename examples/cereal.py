"""The cereal exercises' data (`../shared/docs/exercise-*.md`), built exactly as the exercises describe.

Used by the demo client, the tests and the benchmarks, so every one of them estimates the same problem.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parent / 'data'
AGENTS_PER_MARKET = 1000
SEED = 0


def _fixed_effects_fit(y: np.ndarray, X: np.ndarray, markets: pd.Series, products: pd.Series) -> np.ndarray:
    """Fitted values of OLS of y on X plus market and product dummies (the exercises' first stage)."""
    dummies = pd.get_dummies(pd.DataFrame({'m': markets, 'p': products}), columns=['m', 'p'], drop_first=True,
                             dtype=float)
    regressors = np.column_stack([np.ones(len(y)), X, dummies.to_numpy()])
    coefficients, *_ = np.linalg.lstsq(regressors, y, rcond=None)
    return regressors @ coefficients


def demographics() -> pd.DataFrame:
    frame = pd.read_csv(DATA / 'cereal_demographics.csv').rename(columns={'market': 'market_ids'})
    frame['log_income'] = np.log(frame['quarterly_income'])
    return frame


def product_data(instruments: str = 'random_coefficients') -> pd.DataFrame:
    """Product data with PyBLP's column names.

    `instruments='price'`: demand_instruments0 = price_instrument (the IV logit). `'random_coefficients'` adds the
    exercise-2 instruments: mean log income x mushy, mean log income x predicted prices, and the sum of squared
    differences in predicted prices within the market. `'ols'`: prices instrument themselves.
    """
    frame = pd.read_csv(DATA / 'cereal_products.csv').rename(
        columns={'market': 'market_ids', 'product': 'product_ids', 'price_per_serving': 'prices'})
    frame['shares'] = frame['servings_sold'] / (frame['city_population'] * 90)
    frame['firm_ids'] = frame['product_ids'].str[:2]
    if instruments == 'ols':
        frame['demand_instruments0'] = frame['prices']
        return frame
    frame['demand_instruments0'] = frame['price_instrument']
    if instruments == 'price':
        return frame
    mean_income = demographics().groupby('market_ids')['log_income'].mean()
    income = frame['market_ids'].map(mean_income).to_numpy()
    predicted = _fixed_effects_fit(frame['prices'].to_numpy(), frame[['price_instrument']].to_numpy(),
                                   frame['market_ids'], frame['product_ids'])
    frame['predicted_prices'] = predicted
    frame['demand_instruments1'] = income * frame['mushy']
    frame['demand_instruments2'] = income * predicted
    frame['demand_instruments3'] = frame.groupby('market_ids')['predicted_prices'].transform(
        lambda x: ((x.to_numpy()[:, None] - x.to_numpy()[None, :]) ** 2).sum(axis=1))
    return frame


def agent_data(size: int = AGENTS_PER_MARKET, seed: int = SEED) -> pd.DataFrame:
    """`size` draws per market with replacement from the demographics, equal weights, three normal nodes."""
    frame = demographics().groupby('market_ids', as_index=False).sample(size, replace=True, random_state=seed)
    frame = frame.reset_index(drop=True)
    frame['weights'] = 1 / size
    nodes = np.random.default_rng(seed).normal(size=(len(frame), 3))
    for k in range(3):
        frame[f'nodes{k}'] = nodes[:, k]
    return frame[['market_ids', 'weights', 'nodes0', 'nodes1', 'nodes2', 'quarterly_income', 'log_income']]
