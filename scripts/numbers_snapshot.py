"""Every reference workload's numbers in one pickle, to show that a refactor changed none of them.

    python scripts/numbers_snapshot.py before.pkl      # on the old tree
    python scripts/numbers_snapshot.py after.pkl       # on the new tree
    python scripts/numbers_snapshot.py --compare before.pkl after.pkl

Records `to_dict()` (timings dropped), delta, xi, omega, W, the parameter covariances, one market's elasticities,
the approximate optimal instruments and a three-draw bootstrap, per workload.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / 'tests' / 'reference')]

TIMING_KEYS = {'timings', 'seconds', 'time', 'elapsed'}


def _without_timings(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_timings(item) for key, item in value.items() if key not in TIMING_KEYS}
    if isinstance(value, list):
        return [_without_timings(item) for item in value]
    return value


def snapshot() -> dict[str, Any]:
    import micro_workloads
    import supply_workloads
    import workloads

    runs = [(name, make, workloads.run_blp) for name, make in workloads.WORKLOADS.items()]
    runs += [(name, make, supply_workloads.run_blp) for name, make in supply_workloads.SUPPLY_WORKLOADS.items()]
    runs += [(name, make, workloads.run_blp) for name, make in micro_workloads.MICRO_WORKLOADS.items()]
    numbers: dict[str, Any] = {}
    for name, make, run in runs:
        results = run(make())
        record = {'to_dict': _without_timings(results.to_document())}
        for attribute in ('delta', 'xi', 'omega', 'W', 'parameter_covariances', 'hessian', 'gradient'):
            record[attribute] = np.asarray(getattr(results, attribute))
        record['elasticities'] = np.asarray(results.compute_elasticities())
        for key, compute in (('optimal', lambda r: r.compute_optimal_instruments().demand_instruments),
                             ('bootstrap_sigma', lambda r: r.bootstrap(draws=3, seed=0).bootstrapped_sigma)):
            try:
                record[key] = np.asarray(compute(results))
            except Exception as error:  # noqa: BLE001 - a failure is a number too: it must fail alike after
                record[key] = f'{type(error).__name__}: {error}'
        numbers[name] = record
        print(name, 'objective', record['to_dict'].get('objective'), flush=True)
    return numbers


def _differences(before: Any, after: Any, path: str) -> list[str]:
    if isinstance(before, dict):
        if set(before) != set(after):
            return [f'{path}: keys {sorted(set(before) ^ set(after))}']
        return [line for key in before for line in _differences(before[key], after[key], f'{path}.{key}')]
    if isinstance(before, list):
        if len(before) != len(after):
            return [f'{path}: length {len(before)} != {len(after)}']
        return [line for index, (b, a) in enumerate(zip(before, after)) for line in _differences(b, a, f'{path}[{index}]')]
    if isinstance(before, np.ndarray):
        same = before.shape == after.shape and np.array_equal(before, after, equal_nan=True)
        return [] if same else [f'{path}: arrays differ']
    return [] if before == after or (before != before and after != after) else [f'{path}: {before!r} != {after!r}']


if __name__ == '__main__':
    if sys.argv[1] == '--compare':
        old, new = (pickle.loads(Path(path).read_bytes()) for path in sys.argv[2:4])
        lines = _differences(old, new, '')
        print('\n'.join(lines) or f'identical: {len(old)} workloads, every number equal bit for bit')
        sys.exit(1 if lines else 0)
    Path(sys.argv[1]).write_bytes(pickle.dumps(snapshot()))
