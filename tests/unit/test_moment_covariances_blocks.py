"""S built a block of rows at a time (large N) against the moments held whole, and the id columns' shared objects."""

import numpy as np
import pandas as pd
import pytest

from blp.estimation import gmm
from blp.primitives.products import ids_column


def _whole(residuals, Zs, kind, clustering_ids, center):
    """The definition, from the whole N x M moments: what the blocks must add up to."""
    g = np.column_stack([u[:, None] * Z for u, Z in zip(residuals, Zs)])
    N = g.shape[0]
    if center:
        g = g - g.mean(axis=0)
    if kind == 'clustered':
        codes = pd.factorize(pd.Series(clustering_ids, dtype=object))[0]
        g = np.stack([np.bincount(codes, weights=column) for column in g.T], axis=1)
    S = g.T @ g / N
    return (S + S.T) / 2


@pytest.mark.parametrize('kind', ['robust', 'clustered'])
@pytest.mark.parametrize('center', [False, True])
@pytest.mark.parametrize('equations', [1, 2])
def test_blocks_of_rows_add_up_to_the_whole(monkeypatch, kind, center, equations):
    rng = np.random.default_rng(3)
    N = 1000
    residuals = [rng.normal(size=N) + 0.3 for _ in range(equations)]
    Zs = [rng.normal(size=(N, 4)) for _ in range(equations)]
    clusters = rng.integers(0, 37, size=N).astype(str)
    expected = _whole(residuals, Zs, kind, clusters, center)
    whole = gmm.moment_covariances(residuals, Zs, kind, clusters, center)
    np.testing.assert_array_equal(whole, expected)  # one block: the same numbers, bit for bit
    monkeypatch.setattr(gmm, 'ROWS_PER_BLOCK', 64)  # 16 blocks, the last one short
    blocked = gmm.moment_covariances(residuals, Zs, kind, clusters, center)
    np.testing.assert_allclose(blocked, expected, rtol=1e-12, atol=1e-14)
    assert not np.array_equal(blocked, 0)


def test_equal_ids_share_one_object_and_keep_their_values():
    frame = pd.DataFrame({'market_ids': np.repeat(np.arange(1000, 1100), 50), 'firm_ids': ['a', 'b'] * 2500})
    markets = ids_column(frame, 'market_ids', 'product_data')
    assert markets.dtype == object and list(markets) == list(frame['market_ids'])
    assert all(type(value) is int for value in markets[:5])
    assert len({id(value) for value in markets}) == 100  # one object per market, not one per row
    firms = ids_column(frame, 'firm_ids', 'product_data')
    assert list(firms) == list(frame['firm_ids'])
