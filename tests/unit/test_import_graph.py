"""The repository's import graph has no cycles: no two modules import each other, directly or through others.

Read from the source with `ast` (nothing is imported): every module of the packages below that git tracks or would
track (new files it does not ignore), every import statement in it wherever it stands (module level, in a function,
under `try`), relative ones resolved. `import a.b` is an edge to `a.b`; `from a import b` is an edge to `a.b` when
that is a module, else to `a`. A module importing itself counts as a cycle.

Not an edge: an import under `if TYPE_CHECKING:`. It never runs; it names, for the type checker, the type of an object
handed back along an edge that runs the other way (the estimator builds `ProblemResults` from itself, post-estimation
reads the results it is a base of). Typing those seams was the point of removing `Any` from them; the executed graph,
checked here, stays acyclic.

Not an edge: the package `__init__` that Python runs before a submodule (`import a.b` runs `a/__init__.py`). A
package that re-exports its modules' names (blp.model, blp.spec, blp_client) would otherwise form a cycle with each
module of it that is imported by its full name.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ('blp', 'service', 'worker', 'jobstore', 'blp_client', 'examples')

Graph = dict[str, dict[str, int]]  # module -> {imported module: line of the first such import}


def source_files() -> list[Path]:
    """The packages' .py files that git tracks, and new ones it does not ignore (every file on disk outside git)."""
    try:
        listed = subprocess.run(['git', 'ls-files', '--cached', '--others', '--exclude-standard', '--', *PACKAGES],
                                cwd=ROOT, capture_output=True, text=True, check=True).stdout.split('\n')
        paths = {ROOT / name for name in listed if name.endswith('.py')}
    except (OSError, subprocess.CalledProcessError):
        paths = {path for package in PACKAGES for path in (ROOT / package).rglob('*.py')}
    return sorted(path for path in paths if path.is_file())


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == 'TYPE_CHECKING') or \
        (isinstance(test, ast.Attribute) and test.attr == 'TYPE_CHECKING')


def executed_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of `tree` but the bodies of `if TYPE_CHECKING:` blocks (their `else` runs, and is kept)."""
    pending = [tree]
    while pending:
        node = pending.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node):
            pending.extend(node.orelse)
            continue
        pending.extend(ast.iter_child_nodes(node))


def imported_names(tree: ast.AST, name: str, is_package: bool, modules: set[str]) -> Iterator[tuple[str, int]]:
    """(module, line) for each import in `tree` of the module `name`, as the candidates it may reach."""
    package = name if is_package else name.rpartition('.')[0]
    for node in executed_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split('.')
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = '.'.join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ''
            for alias in node.names:
                submodule = f'{base}.{alias.name}'
                yield (submodule if submodule in modules else base), node.lineno


def import_graph() -> Graph:
    files = {module_name(path): path for path in source_files()}
    modules = set(files)
    graph: Graph = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        edges = graph.setdefault(name, {})
        for target, line in imported_names(tree, name, path.name == '__init__.py', modules):
            while target and target not in modules:  # `import a.b.c` of a name not on disk: its nearest package
                target = target.rpartition('.')[0]
            if target:
                edges.setdefault(target, line)
    return graph


def strongly_connected_components(graph: Graph) -> list[list[str]]:
    """Tarjan's algorithm: the sets of modules that each reach every other one of their set."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def cycle_through(graph: Graph, component: list[str]) -> list[str]:
    """One cycle inside a strongly connected component: the shortest way from its first module back to itself."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node]):
                if target == start:
                    return paths[node] + [start]
                if target in members and target not in paths:
                    paths[target] = paths[node] + [target]
                    following.append(target)
        frontier = following
    raise AssertionError(f'{component} is not strongly connected')


def describe(graph: Graph, component: list[str]) -> str:
    cycle = cycle_through(graph, component)
    steps = ' -> '.join([cycle[0]] + [f'{target} (line {graph[source][target]} of {source})'
                                      for source, target in zip(cycle, cycle[1:])])
    return f'{", ".join(component)}; for example {steps}'


def test_the_graph_covers_every_package():
    graph = import_graph()
    assert set(PACKAGES) <= set(graph), set(PACKAGES) - set(graph)
    assert graph['blp.estimation.problem'], 'the core problem imports other core modules'


def test_no_module_is_part_of_an_import_cycle():
    graph = import_graph()
    cycles = [describe(graph, component) for component in strongly_connected_components(graph)
              if len(component) > 1 or component[0] in graph[component[0]]]
    assert not cycles, 'modules that import each other (through the others named, one cycle shown):\n' + '\n'.join(cycles)
