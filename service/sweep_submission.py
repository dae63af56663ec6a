"""Queueing a robustness sweep (`"kind": "sweep"` on `POST /v1/jobs`): the base spec under each variant, every
variant checked as a single estimate is (spec, data, budget) and the whole sweep costed before anything is queued;
the worker fans the variants out (`worker/sweeps.py`)."""

from __future__ import annotations

import itertools
from typing import Any, Optional

import pandas as pd
from celery import Celery
from pydantic import ValidationError

from blp.spec import EstimateSpec
from jobstore.problems import ProblemDetails
from jobstore.records import InputIds, JobRecord
from jobstore.settings import Settings
from jobstore.store import Store
from service.budget import check_budget
from service.dataset_cache import stored_frame
from service.jobs import Staged, _new_record, _queue, admit, check_counterfactual, replay, resolve, store_staged
from service.models import JobRequest, SweepSpec, SweepVariant
from service.numerics import Numerics


def merged(base: Any, override: Any) -> Any:
    """`override` merged into `base`: objects key by key, except `*_options` objects and every other value, which
    replace the base's (so a variant's `method_options` are its own, not the base's with some keys changed)."""
    if not isinstance(base, dict) or not isinstance(override, dict):
        return override
    result = dict(base)
    for key, value in override.items():
        result[key] = value if key.endswith('_options') else merged(base.get(key), value)
    return result


def expand(sweep: SweepSpec) -> list[tuple[str, dict[str, Any]]]:
    """(label, override) per variant: the list as given, or the product of the axes (the last axis varies fastest),
    their overrides merged in axis order."""
    if sweep.variants is not None:
        return [(variant.label or f'variant {index}', variant.override) for index, variant in enumerate(sweep.variants)]
    variants = []
    assert sweep.axes is not None  # SweepSpec requires variants or axes
    for combination in itertools.product(*[list(enumerate(axis.values)) for axis in sweep.axes]):
        labels: list[str] = []
        override: dict[str, Any] = {}
        for axis, (position, value) in zip(sweep.axes, combination):
            labels.append(f'{axis.name}={_label(value, position)}')
            override = merged(override, value.override)
        variants.append((', '.join(labels), override))
    return variants


def _label(value: SweepVariant, position: int) -> str:
    return value.label or str(position)


def _invalid(index: int, label: str, problem: ProblemDetails) -> ProblemDetails:
    """A variant's problem, naming the variant (its index and label) besides the field, column or sizes at fault."""
    return ProblemDetails(problem.status, problem.slug, problem.title,
                          f'variant {index} ({label}): {problem.detail or problem.title}', headers=problem.headers,
                          **{**problem.fields, 'variant': index, 'label': label})


def _validated(base: dict[str, Any], index: int, label: str, override: dict[str, Any]) -> EstimateSpec:
    try:
        return EstimateSpec.model_validate(merged(base, override))
    except ValidationError as error:
        first = error.errors()[0]
        field = '.'.join(['spec', *(str(part) for part in first['loc'])])
        raise _invalid(index, label, ProblemDetails(422, 'invalid-variant', 'Invalid variant',
                                                    f"{field}: {first['msg']}", field=field)) from None


def _frames(store: Store, product: tuple[str, Optional[pd.DataFrame]],
            agent: tuple[Optional[str], Optional[pd.DataFrame]]) -> tuple[pd.DataFrame, Optional[pd.DataFrame]]:
    """The product and agent frames (inline, or read from the store's cache) for costing the sweep."""
    frames = []
    for dataset_id, frame in (product, agent):
        if frame is None and dataset_id is not None:
            frame = stored_frame(store, dataset_id)
            if frame is None:
                raise ProblemDetails(409, 'dataset-deleted', 'Dataset deleted', f'the dataset {dataset_id} was deleted')
        frames.append(frame)
    assert frames[0] is not None  # a job always has product data
    return frames[0], frames[1]


def _work(spec: EstimateSpec, frames: tuple[pd.DataFrame, Optional[pd.DataFrame]], settings: Settings) -> int:
    """The variant's work (agent-product cells per objective evaluation), refusing it over a single estimate's
    budget with what each variant computes after its estimate over every market (the mean own-price elasticity,
    the counterfactual)."""
    return check_budget(spec, frames[0], frames[1], settings.budget(), post_estimation=True)[1].work


def _total_cost(rows: list[dict[str, Any]], works: dict[int, int], settings: Settings) -> None:
    """422 naming the sweep's largest variants when all of them together exceed the work budget of one job."""
    limit, total = settings.max_job_work, sum(works.values())
    if total <= limit:
        return
    largest = sorted(works, key=lambda index: -works[index])
    shares = [{'variant': index, 'label': rows[index]['label'], 'work': works[index]} for index in largest]
    named = ', '.join(f"variant {entry['variant']} ({entry['label']}): {entry['work']:,}" for entry in shares[:3])
    raise ProblemDetails(422, 'over-budget', 'Sweep over budget',
                         f'the {len(works)} variants need {total:,} agent-product cells per objective evaluation '
                         f'together; this service allows {limit:,} per job (largest: {named})', parameter='sweep',
                         variant=largest[0], label=rows[largest[0]]['label'], variants=shares,
                         estimate={'work': total}, limit={'work': limit})


def submit_sweep(store: Store, celery: Celery, settings: Settings, numerics: Numerics, body: JobRequest,
                 owner: str, idempotency_key: Optional[str]) -> tuple[JobRecord, bool]:
    """Check every variant as an estimate is checked, cost the whole sweep, and queue it; (record, created)."""
    assert body.sweep is not None  # JobRequest requires it for kind sweep
    idempotency, existing = replay(store, owner, idempotency_key, body.model_dump(mode='json'))
    if existing is not None:
        return existing, False
    admit(store, settings, owner)
    staged: Staged = []
    product = resolve(store, body.product_data, owner, 'product_data', staged)
    agent = resolve(store, body.agent_data, owner, 'agent_data', staged) if body.agent_data else (None, None)
    frames = _frames(store, product, agent)
    counterfactual = body.sweep.counterfactual
    if counterfactual is not None:
        check_counterfactual(frames[0], counterfactual)
    base = body.spec.model_dump(mode='json')
    rows: list[dict[str, Any]] = []
    works: dict[int, int] = {}
    for index, (label, override) in enumerate(expand(body.sweep)):
        row: dict[str, Any] = {'index': index, 'label': label, 'override': override, 'spec': None, 'error': None}
        rows.append(row)
        try:
            spec = _validated(base, index, label, override)
            works[index] = _work(spec, frames, settings)  # from sizes, here: before a numerics process is waited for
            numerics.check(spec.model_dump_json(), None, product, agent)
            row['spec'] = spec.model_dump(mode='json')
        except ProblemDetails as problem:
            if problem.status >= 500 or body.sweep.on_invalid == 'refuse':
                raise _invalid(index, label, problem) if 'variant' not in problem.fields else problem from None
            row['error'] = _invalid(index, label, problem).to_dict()
    if not works:
        raise ProblemDetails(422, 'no-valid-variant', 'No valid variant', 'every variant of the sweep is invalid',
                             variants=[row['error'] for row in rows])
    _total_cost(rows, works, settings)
    store_staged(store, staged, owner)
    inputs: InputIds = {'product_data': product[0], 'agent_data': agent[0]}
    for index, work in works.items():
        rows[index]['work'] = work  # the worker publishes the variants largest first, so the workers end together
    request = {'variants': rows, 'on_invalid': body.sweep.on_invalid,
               'counterfactual': None if counterfactual is None else counterfactual.model_dump(mode='json')}
    record = _new_record('sweep', owner, inputs, base, request=request)
    return _queue(store, celery, settings, record, idempotency)
