"""The cost model: sizes read from a spec and frames without building, node counts of the built rules, and a
budget that names what is over it."""

import pytest

from blp.budget import Budget, BudgetError, Sizes, check, cost, nodes_per_market, sizes_of
from blp.integration import Integration
from blp.spec import EstimateSpec
from examples import cereal


def test_node_counts_match_the_rules_the_core_builds():
    for specification, size, dimensions in [('product', 5, 2), ('halton', 37, 3), ('grid', 4, 2), ('grid', 5, 3)]:
        nodes, _ = Integration(specification, size).build(dimensions, markets=1)
        counted = nodes_per_market(specification, size, dimensions)
        assert counted >= len(nodes[0])  # the sparse grid's count is a bound: repeated nodes are merged
        assert specification == 'grid' or counted == len(nodes[0])


def test_sizes_of_the_cereal_exercise():
    spec = EstimateSpec.model_validate({
        'problem': {'product_formulations': [{'formula': '0 + prices', 'absorb': 'C(market_ids)'},
                                             {'formula': '0 + mushy + prices'}],
                    'agent_formulation': {'formula': '0 + log_income'}},
        'solve': {'sigma': [[0, 0], [0, 1]], 'pi': [[0.2], [1]], 'method': '1s'}})
    sizes, source = sizes_of(spec, cereal.product_data(), cereal.agent_data(50), starts=3)
    assert (sizes.markets, sizes.products, sizes.products_per_market, sizes.agents_per_market) == (94, 2256, 24, 50)
    assert (sizes.K1, sizes.K2, sizes.demographics, sizes.parameters, sizes.starts) == (1, 2, 1, 3, 3)
    assert source == 'agent_data'


def test_memory_grows_with_the_agent_array_and_work_with_the_starts():
    small = Sizes(94, 2256, 24, 1000, 1, 2, 0, 5, 2)
    large = Sizes(94, 2256, 24, 2000, 1, 2, 0, 5, 2, starts=4)
    assert cost(large).agent_array_bytes == 2 * cost(small).agent_array_bytes == 2 * 94 * 24 * 1000 * 8
    assert cost(large).memory_bytes - cost(small).memory_bytes >= 4 * cost(small).agent_array_bytes
    assert cost(large).work == 8 * cost(small).work


def test_over_budget_names_sizes_estimate_and_limit():
    sizes = Sizes(94, 2256, 24, 2_250_000, 1, 2, 0, 5, 2)
    with pytest.raises(BudgetError) as caught:
        check(sizes, Budget(memory_bytes=4_000_000_000), 'integration.size')
    described = caught.value.to_dict()
    assert 'the 94 × 24 × 2,250,000 agent array alone is 41 GB' in described['message']
    assert described['parameter'] == 'integration.size' and described['limit']['memory_bytes'] == 4_000_000_000
    assert check(Sizes(94, 2256, 24, 1000, 1, 2, 0, 5, 2), Budget(memory_bytes=4_000_000_000)).memory_bytes < 1e9


def test_a_spec_with_a_memory_budget_is_costed_by_its_chunks_unless_a_block_needs_every_market():
    def sized(solve: dict, formulations: list) -> Sizes:
        spec = EstimateSpec.model_validate({'problem': {'product_formulations': formulations,
                                                        'agent_formulation': {'formula': '0 + log_income'}},
                                            'solve': {'sigma': [[0, 0], [0, 1]], 'pi': [[0.2], [1]], **solve}})
        return sizes_of(spec, cereal.product_data(), cereal.agent_data(1000))[0]

    demand = [{'formula': '0 + prices', 'absorb': 'C(market_ids)'}, {'formula': '0 + mushy + prices'}]
    chunked = sized({'memory_budget_mb': 16, 'threads': 2}, demand)
    assert chunked.chunk_bytes == 16 * 1024**2 and chunked.threads == 2
    assert cost(chunked).memory_bytes < cost(sized({}, demand)).memory_bytes - 40_000_000
    assert sized({}, demand).chunk_bytes is None
    assert sized({'memory_budget_mb': 16}, [*demand, {'formula': '1 + mushy'}]).chunk_bytes is None  # supply side
