"""The port's status: `python tests/port/report.py [--keep-going] [--xfail] [folder/name ...]`.

Runs each notebook (all by default) on blp with the import renamed and compares it with PyBLP's stored run
(`fixtures/`), then prints per notebook: cells that ran of all, whether it reached its end, the first failing cell and
its error, the numbers compared and those that differ, and blp's seconds. `--keep-going` runs past errors (later
cells may then fail only because an earlier one did) and lists every distinct error, which names more of the missing
API; `--xfail` prints test_notebooks.XFAIL as it should read now; `--differences N` shows the first N differing
numbers of each notebook.
"""

from __future__ import annotations

import argparse
import os

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(variable, '1')

from notebook_port import Comparison, Run, compare, load_fixture, notebook_names, run_notebook  # noqa: E402 - after the thread pins, before numpy loads


def row(comparison: Comparison) -> str:
    end = 'yes' if comparison.first_failure is None and comparison.ran == comparison.cells else 'no'
    first = comparison.first_failure
    failure = f'{first.index}: {first.error}' if first is not None else '-'
    matching = comparison.compared - len(comparison.differences)
    return (f'{comparison.name:38} {comparison.ran:>3}/{comparison.cells:<3} {end:4} '
            f'{matching:>5}/{comparison.compared:<5} {comparison.seconds:7.1f}  {failure}')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('names', nargs='*', help='notebooks as folder/name (default: all)')
    parser.add_argument('--keep-going', action='store_true', help='run past errors and list every distinct error')
    parser.add_argument('--xfail', action='store_true', help="print test_notebooks.XFAIL as it should read now")
    parser.add_argument('--differences', type=int, default=0, metavar='N', help='show the first N differing numbers')
    arguments = parser.parse_args()

    runs: list[Run] = []
    comparisons: list[Comparison] = []
    print(f"{'notebook':38} {'ran':7} {'end':4} {'numbers match':13} {'seconds':>7}  first failing cell: error")
    for name in arguments.names or notebook_names():
        run = run_notebook(name, 'blp', keep_going=arguments.keep_going)
        comparison = compare(run, load_fixture(name))
        runs.append(run)
        comparisons.append(comparison)
        print(row(comparison), flush=True)
        for difference in comparison.differences[:arguments.differences]:
            print(f'    {difference}')

    passed = sum(comparison.passed for comparison in comparisons)
    print(f'\n{passed} of {len(comparisons)} notebooks port (run to their end and print PyBLP\'s numbers)')

    if arguments.keep_going:
        errors: dict[str, list[str]] = {}
        for run in runs:
            for cell in run.cells:
                if cell.error is not None and not cell.error.startswith('NameError'):
                    errors.setdefault(cell.error, []).append(f'{run.name} {cell.index}')
        print('\nDistinct errors (NameErrors of names an earlier failing cell would have defined left out):')
        for error, where in sorted(errors.items()):
            print(f'  {error}\n      in {", ".join(where)}')

    if arguments.xfail:
        print('\nXFAIL = {')
        for comparison in comparisons:
            if not comparison.passed:
                entry = f'    {comparison.name!r}: {comparison.failure!r},'
                print(entry if len(entry) <= 120 else f'    {comparison.name!r}:\n        {comparison.failure!r},')
        print('}')


if __name__ == '__main__':
    main()
