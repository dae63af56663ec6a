"""A job over the budget is refused by the API process itself, from its data's sizes: its 422 does not wait for the
numerics process (nice 19), which may be busy or starved of CPU. Here the only numerics process is kept busy by a
real call that holds it until the test ends; over-budget requests are answered within a second without consulting it,
while a request within the budget does wait for it (and gets its 503 when the wait runs out)."""

from __future__ import annotations

import copy
import os
import threading
import time
from typing import Any

import pandas as pd
import pytest
from api_support import assert_problem, upload
from test_api_budget import million_products, million_spec, rc_job

from blp.configurations.budget import Table, sizes_of
from blp.spec import EstimateSpec
from examples import cereal
from jobstore.problems import ProblemDetails
from jobstore.settings import Settings
from service.budget import check_budget, table
from service.datasets import describe

WAIT_SECONDS = 2.0  # VALIDATION_TIMEOUT_SECONDS of these clients: what a request waits for the busy process
AGENTS = 40  # MAX_AGENTS_PER_MARKET of these clients
WORK = 94 * 24 * 30 * 10  # MAX_JOB_WORK of these clients: ten starts of the cereal problem with 30 agents


def inline(frame: pd.DataFrame) -> dict[str, Any]:
    return {'columns': {name: frame[name].tolist() for name in frame.columns}}


def consulted(numerics: Any) -> list[tuple]:
    """The calls made to `numerics.check` from now on (each still checked by a numerics process)."""
    calls: list[tuple] = []
    check = numerics.check
    numerics.check = lambda *args: calls.append(args) or check(*args)
    return calls


@pytest.fixture
def busy(make_client, tmp_path):
    """A client whose only numerics process is held by a call until the test lets it go (it reads a FIFO that the
    test writes to at the end), and the calls made to its numerics."""
    client = make_client(max_concurrent_validations=1, validation_timeout_seconds=WAIT_SECONDS,
                         max_agents_per_market=AGENTS, max_job_work=WORK)
    numerics = client.app.state.numerics
    numerics.processes.run(time.sleep, 0, wait=60, timeout=60)  # the process has started
    fifo = tmp_path / 'release'
    os.mkfifo(fifo)
    holder = threading.Thread(target=numerics.processes.run, args=(fifo.read_bytes,), kwargs={'wait': 0})
    yield client, holder, consulted(numerics)
    if holder.is_alive():
        fifo.write_bytes(b'done')  # the helper has the FIFO open for reading (or will): this lets it go
    holder.join()


def test_over_budget_jobs_are_refused_without_waiting_for_a_busy_numerics_process(busy, products):
    client, holder, consulted = busy
    agents = upload(client, cereal.agent_data(50)).json()['id']
    products = upload(client, products).json()['id']
    multistart = rc_job(products, {'specification': 'halton', 'size': 30})
    multistart.update(kind='multistart', starts={'count': 20})
    inline_agents = copy.deepcopy(rc_job(products))
    inline_agents['agent_data'] = inline(cereal.agent_data(50))
    over = [  # (request, the parameter its 422 names)
        (rc_job(products, {'specification': 'product', 'size': 1500}), 'spec.problem.integration.size'),
        (rc_job(products, agent_id=agents), 'agent_data'),
        (inline_agents, 'agent_data'),
        (multistart, 'starts.count'),
    ]
    holder.start()
    time.sleep(0.5)  # the call holds the process now (a request within the budget would wait: the control below)
    for request, parameter in over:
        started = time.perf_counter()
        response = client.post('/v1/jobs', json=request)
        elapsed = time.perf_counter() - started
        body = assert_problem(response, 422, parameter=parameter)
        assert body['type'] == 'urn:blp:problem:over-budget' and body['sizes']['markets'] == 94
        assert elapsed < 1.0, f'{parameter}: {elapsed:.2f} s'
    assert consulted == []
    # the control: a job within the budget is checked by the numerics process, so it waits for it
    started = time.perf_counter()
    response = client.post('/v1/jobs', json=rc_job(products, {'specification': 'halton', 'size': 30}))
    assert_problem(response, 503)
    assert time.perf_counter() - started >= WAIT_SECONDS - 0.1 and len(consulted) == 1
    assert holder.is_alive()  # the numerics process was busy throughout


def test_a_stored_datasets_description_gives_the_sizes_its_frame_gives():
    """What the API process costs a job by (`service.budget.table` of a description) is what the frames give."""
    products, agents = cereal.product_data(), cereal.agent_data(200)
    assert table(describe(products, 'p')) == Table.of(products) == Table(
        rows=2256, columns=tuple(products.columns), markets=94, largest_market=24)
    assert table(describe(agents, 'a')).largest_market == 200
    spec = EstimateSpec.model_validate(rc_job('p')['spec'])
    assert sizes_of(spec, table(describe(products, 'p')), table(describe(agents, 'a'))) == sizes_of(spec, products, agents)
    assert table({'rows': 1, 'columns': [], 'markets': 1}) is None  # stored before the largest market was recorded


def test_the_million_product_job_is_costed_from_its_description_as_from_its_frame():
    """bench/scale.py's sizes fit the default budget from the description alone; 5,000 agents per market do not."""
    products = million_products()
    described = table(describe(products, 'm'))
    assert described == Table(rows=1_000_000, columns=tuple(products.columns), markets=10_000, largest_market=100)
    budget = Settings().budget()
    sizes, cost = check_budget(million_spec(), described, None, budget)
    assert sizes == sizes_of(million_spec(), products)[0] and cost.memory_bytes <= budget.memory_bytes
    # as bench/scale.py runs it: its 100 agents per market sent as agent data (a million rows of them)
    agents = Table(rows=1_000_000, columns=('market_ids', 'weights', 'nodes0', 'nodes1', 'income'), markets=10_000,
                   largest_market=100)
    spec = million_spec()
    spec = spec.model_copy(update={'problem': spec.problem.model_copy(update={'integration': None})})
    sizes, cost = check_budget(spec, described, agents, budget)
    assert sizes.agents_per_market == 100 and cost.memory_bytes <= budget.memory_bytes
    with pytest.raises(ProblemDetails) as caught:
        check_budget(million_spec(agents=5000), described, None, budget)
    assert caught.value.fields['sizes']['agents_per_market'] == 5000


def test_a_dataset_described_before_its_largest_market_was_is_costed_by_the_numerics_process(make_client, products):
    """Datasets stored by an older API lack `largest_market`: their jobs are still refused, where the data are read."""
    client = make_client()
    dataset_id = upload(client, products).json()['id']
    store = client.app.state.store
    store.r.hdel(store._dataset(dataset_id), 'largest_market')
    assert table(store.get_dataset(dataset_id)) is None
    calls = consulted(client.app.state.numerics)
    response = client.post('/v1/jobs', json=rc_job(dataset_id, {'specification': 'product', 'size': 1500}))
    assert assert_problem(response, 422, parameter='spec.problem.integration.size')['sizes']['agents_per_market'] == 1500 ** 2
    assert len(calls) == 1
