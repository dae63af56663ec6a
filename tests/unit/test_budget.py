"""The cost model: sizes read from a spec and frames without building, node counts of the built rules, and a
budget that names what is over it."""

import time
from dataclasses import replace

import pytest

from blp.configurations.budget import (
    DEFAULT_CHUNK_BYTES,
    MICRO_TEMPORARIES,
    SUPPLY_WHOLE_MATRICES,
    Budget,
    BudgetError,
    Sizes,
    check,
    chunked,
    cost,
    inner_bytes_per_market,
    markets_per_chunk,
    micro_cells,
    nodes_per_market,
    sizes_of,
    supply_bytes_per_market,
)
from blp.configurations.integration import Integration
from blp.spec import EstimateSpec
from examples import cereal


def test_node_counts_match_the_rules_the_core_builds():
    for specification, size, dimensions in [('product', 5, 2), ('halton', 37, 3), ('grid', 4, 2), ('grid', 5, 3)]:
        nodes, _ = Integration(specification, size).build(dimensions, markets=1)
        counted = nodes_per_market(specification, size, dimensions)
        assert counted >= len(nodes[0])  # the sparse grid's count is a bound: repeated nodes are merged
        assert specification == 'grid' or counted == len(nodes[0])


def test_gauss_hermite_grid_levels_the_core_refuses_are_counted_at_once():
    from blp.configurations.budget import GRID_LEVELS_COUNTED
    from blp.configurations.integration import GAUSS_HERMITE_MAX

    assert GRID_LEVELS_COUNTED == GAUSS_HERMITE_MAX + 1
    started = time.perf_counter()
    assert nodes_per_market('grid', 100_000, 2) == nodes_per_market('grid', GRID_LEVELS_COUNTED, 2) > 371 ** 2 / 2
    assert time.perf_counter() - started < 5  # the level itself took ~20 minutes to count


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


def _gigabytes(text: str) -> float:
    number, unit = text.split()
    return float(number.replace(',', '')) * {'TB': 1e3, 'GB': 1, 'MB': 1e-3, 'kB': 1e-6}[unit]


@pytest.mark.parametrize('chunk_bytes', [None, DEFAULT_CHUNK_BYTES])
def test_an_over_budget_message_never_calls_a_part_larger_than_the_whole(chunk_bytes):
    """Chunked, the agent array is never held whole: "needs ~12 GB (... array alone is 18 GB)" contradicted itself."""
    sizes = Sizes(94, 2256, 24, 1_000_000, 1, 2, 0, 5, 2, chunk_bytes=chunk_bytes)
    with pytest.raises(BudgetError) as caught:
        check(sizes, Budget(memory_bytes=1_000_000_000), 'integration.size')
    message = str(caught.value)
    needs = _gigabytes(message.split('needs ~')[1].split(' (')[0])
    array = cost(sizes).agent_array_bytes / 1e9
    assert f'{array:.0f} GB' in message and needs > 1
    if chunk_bytes is None:  # held whole: part of what it needs
        assert needs >= array and 'agent array alone is' in message, message
    else:
        assert needs < array and 'alone' not in message and 'a chunk of markets at a time' in message, message


def sized(solve: dict | None = None, formulations: list | None = None, agents: int = 1000, **options) -> Sizes:
    """The sizes of a cereal spec with random coefficients on mushy and prices and income on both."""
    spec = EstimateSpec.model_validate({'problem': {'product_formulations': formulations or DEMAND,
                                                    'agent_formulation': {'formula': '0 + log_income'}},
                                        'solve': {'sigma': [[0, 0], [0, 1]], 'pi': [[0.2], [1]], **(solve or {})},
                                        **options.pop('spec', {})})
    products = cereal.product_data().assign(supply_instruments0=1.0, supply_instruments1=1.0)
    return sizes_of(spec, products, cereal.agent_data(agents), **options)[0]


DEMAND = [{'formula': '0 + prices', 'absorb': 'C(market_ids)'}, {'formula': '0 + mushy + prices'}]
SUPPLY = [*DEMAND, {'formula': '1 + mushy'}]
MICRO = {'datasets': [{'name': 'survey', 'observations': 500, 'market_ids': ['C01Q1', 'C01Q2'],
                       'second_choices': 'all'}],
         'parts': [{'name': 'income', 'dataset': 'survey', 'agents': 'log_income'}],
         'moments': [{'name': 'E[log income]', 'value': 7.9, 'part': 'income'}]}


def test_a_demand_spec_is_costed_by_the_default_chunks_and_blocks_needing_every_market_whole():
    default, asked, supply = sized(), sized({'memory_budget_mb': 16, 'threads': 2}), sized(formulations=SUPPLY)
    assert default.chunk_bytes == DEFAULT_CHUNK_BYTES and asked.chunk_bytes == 16 * 1024**2 and asked.threads == 2
    assert chunked(default) and chunked(asked) and chunked(supply)  # the supply side is chunked too
    per_market = inner_bytes_per_market(24, 1000, 3)
    # 94 markets of 24 x 1,000 agents do not fit 32 MB: the default holds the markets of one chunk, not all 94
    held = markets_per_chunk(per_market, DEFAULT_CHUNK_BYTES)
    assert held < 94
    whole_demand = replace(default, chunk_bytes=None)
    assert cost(whole_demand).memory_bytes - cost(default).memory_bytes == (94 - held) * per_market
    assert cost(asked).memory_bytes < cost(default).memory_bytes
    for blocked in (sized({'micro_moments': MICRO}), sized(spec={'optimal_instruments': {}})):
        assert not chunked(blocked)
    # the supply side holds one chunk of markets' temporaries, not every market's
    per_market = supply_bytes_per_market(24, 1000, 3)
    ownership = SUPPLY_WHOLE_MATRICES * 94 * 24 * 24 * 8  # every market's ownership matrix is held whole
    assert cost(supply).blocks['supply'] == ownership + markets_per_chunk(per_market, DEFAULT_CHUNK_BYTES) * per_market
    assert cost(replace(supply, chunk_bytes=None)).blocks['supply'] == ownership + 94 * per_market


def test_each_block_beyond_demand_raises_the_estimate():
    demand = cost(sized())
    supply = cost(sized(formulations=SUPPLY))
    micro = cost(sized({'micro_moments': MICRO}))
    starts = cost(sized(starts=4))
    counterfactual = cost(sized(post_estimation=True))
    assert counterfactual.blocks['post_estimation'] == starts.blocks['post_estimation']
    draws = cost(sized(draws=1000, draws_per_task=50))
    for costed, block in ((supply, 'supply'), (micro, 'micro_moments'), (starts, 'post_estimation'),
                          (draws, 'bootstrap_draws')):
        assert costed.memory_bytes > demand.memory_bytes, block
        assert costed.blocks[block] > 0
    assert demand.blocks == {}
    # the supply side's pass per parameter and the micro datasets' cells are work too; draws and starts multiply it
    assert supply.work > demand.work and micro.work > demand.work
    assert draws.work == 1000 * demand.work and starts.work == 4 * demand.work
    second_choices = micro_cells(EstimateSpec.model_validate({'problem': {'product_formulations': DEMAND},
                                                              'solve': {'micro_moments': MICRO}}).solve.micro_moments,
                                 94, 24, 1000)
    assert second_choices == (1 + 1 + MICRO_TEMPORARIES) * 2 * 1000 * 25 * 25
    more_tasks = cost(sized(draws=1000, draws_per_task=500))
    assert more_tasks.blocks['bootstrap_draws'] == 10 * draws.blocks['bootstrap_draws']


@pytest.mark.parametrize('block, options, parameter', [
    ('supply', {'formulations': SUPPLY}, 'spec.problem.product_formulations'),
    ('micro moments', {'solve': {'micro_moments': MICRO}}, 'spec.solve.micro_moments'),
    ('bootstrap draws', {'draws': 100_000, 'draws_per_task': 10_000}, 'chunk_size'),
    ('post estimation', {'starts': 8}, 'starts.count'),
    ('post estimation', {'post_estimation': True}, 'agent_data'),  # a counterfactual: no request field asks for it
])
def test_a_spec_over_the_budget_only_because_of_a_block_is_refused_naming_it(block, options, parameter):
    sizes, demand = sized(agents=2000, **options), sized(agents=2000)
    limit = (cost(demand).memory_bytes + cost(sizes).memory_bytes) // 2  # demand alone fits, with the block not
    with pytest.raises(BudgetError) as caught:
        check(sizes, Budget(memory_bytes=limit), 'agent_data')
    described = caught.value.to_dict()
    assert described['parameter'] == parameter
    assert f'without {block} it would need' in described['message']
    assert check(demand, Budget(memory_bytes=limit)).memory_bytes <= limit


def test_bootstrap_draws_over_the_work_budget_are_refused_naming_draws():
    sizes = sized(draws=1000, draws_per_task=50)
    with pytest.raises(BudgetError) as caught:
        check(sizes, Budget(work=cost(sized()).work * 10), 'agent_data')
    assert caught.value.to_dict()['parameter'] == 'draws'
