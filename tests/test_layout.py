"""The layout of the packages: no module imports another in a circle, and every error a user can
cause is a :class:`runtime.errors.UserError` (what the command lines report in one line)."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Dict, List, Optional, Set

from conftest import ROOT

# The importable packages (``tools/`` is a folder of scripts that nothing imports).
PACKAGES = ('backbones', 'benchmarks', 'classification', 'detection', 'runtime', 'segmentation')


def project_modules(root: Path = ROOT) -> Dict[str, Path]:
    """``{dotted name: file}`` of every module in :data:`PACKAGES` (a package's ``__init__`` by the
    package's name; a folder without ``__init__.py``, such as ``configs/``, holds no modules)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob('*.py')):
            parts = path.relative_to(root).with_suffix('').parts
            if not all((root.joinpath(*parts[:i]) / '__init__.py').is_file() for i in range(1, len(parts))):
                continue
            found['.'.join(parts[:-1] if parts[-1] == '__init__' else parts)] = path
    return found


def _imported(node: ast.AST, module: str, is_package: bool, modules: Set[str]) -> List[str]:
    """The project modules an ``import`` statement names: ``from pkg import name`` names the module
    ``pkg.name`` when there is one, else ``pkg`` itself. The parent packages that Python initialises
    on the way are not edges: a package's ``__init__`` importing its own modules is no circle."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ''
        if node.level:
            anchor = module.split('.')[:len(module.split('.')) - node.level + (1 if is_package else 0)]
            base = '.'.join(anchor + ([base] if base else []))
        names = [f'{base}.{alias.name}' if f'{base}.{alias.name}' in modules else base for alias in node.names]
    return [name for name in names if name in modules]


def import_graph(root: Path = ROOT) -> Dict[str, Set[str]]:
    """``{module: the project modules it imports}``, at module level and inside functions alike: a
    lazy import still runs, so a circle through one is only postponed, not broken. Imports under
    ``if TYPE_CHECKING:`` never run and are left out."""
    files = project_modules(root)
    graph: Dict[str, Set[str]] = {name: set() for name in files}

    def visit(node: ast.AST, name: str, is_package: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and 'TYPE_CHECKING' in ast.unparse(child.test):
                for sub in child.orelse:
                    visit(sub, name, is_package)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                graph[name].update(_imported(child, name, is_package, set(files)))
            visit(child, name, is_package)

    for name, path in files.items():
        visit(ast.parse(path.read_text(), str(path)), name, path.name == '__init__.py')
        graph[name].discard(name)
    return graph


def find_cycle(graph: Dict[str, Set[str]]) -> Optional[List[str]]:
    """One circle ``[a, b, ..., a]`` of ``graph``, or None (depth-first, modules in sorted order)."""
    state: Dict[str, int] = {}  # 1: on the current path, 2: finished
    path: List[str] = []

    def walk(node: str) -> Optional[List[str]]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = walk(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = walk(node)
            if found:
                return found
    return None


def test_the_graph_sees_module_and_function_level_imports():
    graph = import_graph()
    assert 'backbones.division' in graph['backbones.checkpoints']           # from .division import ...
    assert 'runtime.record' in graph['backbones.checkpoints']              # inside a function
    assert 'runtime.fault' in graph['classification.pipeline']              # from runtime import fault, record
    assert 'classification.data' in graph['classification']                 # the package's __init__
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == ['a', 'b', 'c', 'a']


def test_no_module_imports_another_in_a_circle():
    """Module-level and function-level imports both count: a lazy import only postpones a circle
    (three were hidden that way: checkpoints -> presets -> cli -> checkpoints, pipeline <-> cluster,
    suite <-> transfer_probe)."""
    cycle = find_cycle(import_graph())
    assert cycle is None, f'import circle: {" -> ".join(cycle)}'


# Every error the command lines report in one line, wherever it is defined.
EXPECTED_ERRORS = (
    'backbones.checkpoints.CheckpointError', 'backbones.division.DivisionError', 'backbones.presets.UnknownArchError',
    'classification.data.DataLayoutError', 'classification.fashion.FashionMNISTMissing',
    'classification.pipeline.PipelineError', 'runtime.checkpoint.CheckpointReadError', 'runtime.cli.UnknownKeyError',
    'runtime.graph.GraphError', 'runtime.record.RecordError', 'runtime.schedule.ScheduleError',
    'runtime.slurm.SlurmError', 'benchmarks.results.ResultsError', 'benchmarks.suite.SuiteError',
    'benchmarks.workdir.RunError',
)


def test_every_expected_error_is_a_user_error_and_keeps_its_builtin_base():
    from runtime.cli import UserError as reexported
    from runtime.errors import UserError
    assert reexported is UserError and issubclass(UserError, ValueError)
    for dotted in EXPECTED_ERRORS:
        module, name = dotted.rsplit('.', 1)
        assert issubclass(getattr(importlib.import_module(module), name), UserError), dotted
    from classification.data import DataLayoutError
    from classification.pipeline import PipelineError
    from runtime.slurm import SlurmError
    assert issubclass(DataLayoutError, FileNotFoundError) and issubclass(PipelineError, RuntimeError)
    assert issubclass(SlurmError, RuntimeError) and str(SlurmError(['sbatch'], 'no')) == '`sbatch` failed: no'


def test_architecture_page_names_every_module():
    """docs/architecture.md describes the layout that exists: every module of the packages and
    every tool is named there (by its path, or its file name in its package's row)."""
    page = (ROOT / 'docs' / 'architecture.md').read_text()
    files = [p for p in project_modules().values() if p.name != '__init__.py']
    files += sorted(p for p in (ROOT / 'tools').iterdir() if p.suffix in ('.py', '.sh'))
    missing = [str(p.relative_to(ROOT)) for p in files if str(p.relative_to(ROOT)) not in page and p.name not in page]
    assert not missing, f'docs/architecture.md does not name: {", ".join(missing)}'


# The benchmarks package's report code, which any study uses, and its studies (each with its
# presets, its plan and the generated blocks of its page).
REPORT_MODULES = ('analysis', 'costs', 'plots', 'records', 'reference', 'render', 'report', 'results', 'runs',
                  'tables', 'tasks', 'workdir')
STUDY_MODULES = ('fashion_study', 'reproduce', 'suite', 'transfer_probe', 'probe_table', 'repeatability', 'speed',
                 'fashion_scenes')


def test_the_report_code_imports_no_study_and_every_generator_lives_with_its_study():
    graph = import_graph()
    modules = {name.split('.', 1)[1] for name in graph if name.startswith('benchmarks.')}
    assert modules <= set(REPORT_MODULES) | set(STUDY_MODULES) | {'__main__'}, modules - set(REPORT_MODULES)
    for name in REPORT_MODULES:
        studies = sorted(m for m in graph[f'benchmarks.{name}'] if m.split('.')[-1] in STUDY_MODULES)
        assert not studies, f'benchmarks.{name} imports {", ".join(studies)}'
    from benchmarks.results import generators
    owners = {name: fn.__module__ for name, fn in generators().items()}
    generic = {'results-table', 'headline', 'provenance'}
    assert {n for n, m in owners.items() if m == 'benchmarks.results'} == generic, owners
    assert owners['suite-table'] == 'benchmarks.suite' and owners['depth-table'] == 'benchmarks.fashion_study'
    assert owners['probe-table'] == 'benchmarks.transfer_probe' and owners['repeatability'] == 'benchmarks.repeatability'
