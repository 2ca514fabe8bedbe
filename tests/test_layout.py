"""The package's shape: no import cycles (function-level imports included), nothing imports upward
across layers, the public API is one cheap import, and its names are not shadowed by subpackages."""

import ast
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT

# Lower layers never import higher ones. Same-rank packages may import each other only where listed.
RANKS = {
    "edgenas._version": 0, "edgenas.errors": 0, "edgenas.util": 0,
    "edgenas.targets": 1, "edgenas.space": 1,
    "edgenas.runtime": 2,
    "edgenas.backends": 3,
    "edgenas.data": 4, "edgenas.modelio": 4,
    "edgenas.compress": 5, "edgenas.zoo": 5,
    "edgenas.latency": 6, "edgenas.validation": 6,
    "edgenas.nas": 7,
    "edgenas.board": 8,
    "edgenas.tasks": 9,
    "edgenas.pipeline": 10, "edgenas.agent": 10,
    "edgenas.api": 11,
    "edgenas.cli": 12, "edgenas.__main__": 12,
    "edgenas": 13,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph():
    """module -> set of edgenas modules it imports anywhere in its body (lazy imports included)."""
    graph = {}
    for path in (ROOT / "edgenas").rglob("*.py"):
        name, is_pkg = _module_name(path), path.name == "__init__.py"
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                edges |= {a.name for a in node.names if a.name.startswith("edgenas")}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_pkg else name.split(".")[:-1]
                    base = base[: len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if not target.startswith("edgenas"):
                    continue
                for a in node.names:
                    sub = target + "." + a.name
                    is_mod = (ROOT / (sub.replace(".", "/") + ".py")).exists() or (ROOT / sub.replace(".", "/")).is_dir()
                    edges.add(sub if is_mod else target)
        edges.discard(name)
        graph[name] = edges
    return graph


def _rank(module: str) -> int:
    best = max((k for k in RANKS if module == k or module.startswith(k + ".")), key=len)
    return RANKS[best]


def test_no_import_cycles():
    graph = import_graph()
    index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, cycles


def test_nothing_imports_upward_across_layers():
    bad = []
    for module, edges in import_graph().items():
        for target in edges:
            if _rank(target) > _rank(module):
                bad.append("{} (layer {}) imports {} (layer {})".format(module, _rank(module), target, _rank(target)))
    assert not bad, "\n".join(sorted(bad))


def test_public_api_is_one_cheap_import_and_not_shadowed():
    code = ("import sys; sys.modules['torch'] = None; sys.modules['onnx'] = None; import edgenas; from edgenas import api; "
            "import edgenas.latency.predictor, edgenas.validation.run, edgenas.modelio, edgenas.nas; "
            "names = api.__all__; missing = [n for n in names if not hasattr(edgenas, n)]; "
            "stages = ['profile', 'search', 'validate', 'export', 'quantize', 'prune', 'build', 'check', 'doctor', 'run_pipeline']; "
            "shadowed = [n for n in stages if not callable(getattr(edgenas, n))]; print(missing, shadowed)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT))
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[] []", res.stdout


def test_pipeline_calls_the_api_not_the_cli():
    for path in (ROOT / "edgenas" / "pipeline").glob("*.py"):
        text = path.read_text()
        assert "run_command" not in text and "cli.main" not in text, path
