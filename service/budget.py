"""Keeping a request within the work budget: its cost is estimated from sizes before anything is built, and what
the API builds to check it is small and bounded in time and number.

Why: a spec can ask for millions of agents per market; building that problem inside the request once took 50 s of
CPU and 8.5 GB. Now the cost model (blp.configurations.budget) refuses it in microseconds, and the problem the API builds to check
columns, formulas and parameters uses a handful of integration nodes (the nodes change no check), so validation
costs about what the uploaded data costs to read (and happens in another process: service.numerics). The API
process itself refuses a job over the budget from the sizes its stored datasets were described with (`table`):
the numerics processes run at nice 19, so with every core busy the same 422 waited seconds for one of them.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import pandas as pd

from blp.configurations.budget import Cost, Sizes, Table, check, sizes_of
from blp.exceptions import BLPError, SpecificationError
from blp.spec import EstimateSpec
from jobstore.problems import core_problem_details

# Nodes per dimension of the rule the API builds to check a spec with built agents (the worker builds the real one).
CHECK_NODES = {'product': 2, 'grid': 2, 'nested_product': 2, 'nested_grid': 2}
CHECK_DRAWS = 8


Data = Union[pd.DataFrame, Table]


def table(meta: Optional[dict[str, Any]]) -> Optional[Table]:
    """The cost model's `Table` of a stored dataset, from its description (`service.datasets.describe`); None for
    one stored before descriptions counted its largest market (a job on it is costed where its data are read)."""
    if meta is None or 'largest_market' not in meta:
        return None
    return Table(rows=meta['rows'], columns=tuple(column['name'] for column in meta['columns']),
                 markets=meta['markets'], largest_market=meta['largest_market'])


def check_budget(spec: EstimateSpec, product: Data, agent: Optional[Data], budget: Any, starts: int = 1,
                 draws: int = 1, draws_per_task: int = 1, post_estimation: bool = False) -> tuple[Sizes, Cost]:
    """The job's sizes and cost, or 422 naming the sizes, the estimate and the limit (and the block or request field at fault)
    when it would exceed the budget: from sizes alone (frames, or `Table`s), so the API process answers it in
    microseconds without reading data. `draws` and `draws_per_task`: a bootstrap's draws and its draws per task."""
    sizes, source = sizes_of(spec, product, agent, starts=starts, draws=draws, draws_per_task=draws_per_task,
                             post_estimation=post_estimation)
    try:
        return sizes, check(sizes, budget, 'spec.problem.' + source if source == 'integration.size' else source)
    except BLPError as error:  # BudgetError: 422 `over-budget`
        raise core_problem_details(error) from None


def check_cost(spec: EstimateSpec, product: pd.DataFrame, agent: Optional[pd.DataFrame], budget: Any,
               starts: int = 1, draws: int = 1, draws_per_task: int = 1) -> None:
    """`check_budget`, and a Gauss-Hermite rule that is not finite refused (the core says which size), all before
    any matrix is built."""
    from blp.configurations.integration import Integration  # scipy.special: not at the API's start, at a first check

    sizes, _ = check_budget(spec, product, agent, budget, starts=starts, draws=draws, draws_per_task=draws_per_task)
    try:
        if spec.problem.integration is not None:
            integration = spec.problem.integration
            rule = Integration.seeded(integration.specification, integration.size, integration.seed)
            if agent is not None and sizes.K2:
                _enough_agent_rows(rule, sizes.K2, agent)
    except BLPError as error:
        raise core_problem_details(error) from None


def checkable(spec: EstimateSpec, agent: Optional[pd.DataFrame] = None) -> EstimateSpec:
    """The spec with its integration rule cut to a few nodes: what the API builds to check it. Not with agent data:
    the core then counts the agent rows of each market against the nodes the rule builds, so the rule keeps its size
    (its nodes are as many as the agent rows the request sent, and the cost check has passed)."""
    integration = spec.problem.integration
    if integration is None or agent is not None:
        return spec
    size = min(integration.size, CHECK_NODES.get(integration.specification, CHECK_DRAWS))
    problem = spec.problem.model_copy(update={'integration': integration.model_copy(update={'size': size})})
    return spec.model_copy(update={'problem': problem})


def _enough_agent_rows(rule: Any, dimensions: int, agent: pd.DataFrame) -> None:
    """With built nodes and agent data (for the demographics), every market needs at least as many agent rows as the
    rule builds: refused now, since the API checks the spec on a rule cut to a few nodes (`checkable`)."""
    _, weights = rule.build(dimensions, 1)
    counts = agent['market_ids'].value_counts()
    if int(counts.min()) < len(weights[0]):
        market = counts.idxmin()
        raise SpecificationError(f'with integration and agent_data together, every market needs at least as many agent '
                                 f'rows as the integration builds ({len(weights[0])}); market {market!r} has '
                                 f'{int(counts.min())}', parameter='spec.problem.integration.size')
