"""Package layering: no import cycle, and serving never loads the training engine."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import mnistlab

PACKAGE = Path(mnistlab.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Each module's mnistlab imports, at module level or inside functions alike."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            found |= {t for t in targets if t in modules and t != name}
        graph[name] = found
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the stack, 2: done

    def visit(node: str, stack: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt] if nxt in stack else [node, nxt]
            if nxt not in state and (found := visit(nxt, [*stack, nxt])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def _is_package_init(graph, a: str, b: str) -> bool:
    # `import mnistlab.x.y` runs mnistlab/x/__init__; a package importing its own submodules
    # is not a layering cycle
    return b.startswith(a + ".") or a.startswith(b + ".")


def test_no_import_cycle_between_modules():
    graph = _imports()
    pruned = {m: {t for t in ts if not _is_package_init(graph, m, t)} for m, ts in graph.items()}
    assert _cycle(pruned) is None, f"import cycle: {' -> '.join(_cycle(pruned))}"


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


# README.md's "Layout" table, bottom up: a module imports only from its own row or rows below
LAYERS = [
    (
        "mnistlab.errors",
        "mnistlab.files",
        "mnistlab.system",
        "mnistlab.threads",
        "mnistlab.version",
        "mnistlab.lazy",
    ),
    ("mnistlab.data",),
    ("mnistlab.models",),
    ("mnistlab.evaluate", "mnistlab.plots"),
    ("mnistlab.calibration",),
    ("mnistlab.runs",),
    ("mnistlab.inference", "mnistlab.serve"),
    ("mnistlab.synth",),
    ("mnistlab.train", "mnistlab.ensemble", "mnistlab.bench"),
    ("mnistlab.api", "mnistlab"),
    ("mnistlab.cli", "mnistlab.__main__"),
]
KNOWN_UP: set[tuple[str, str]] = set()  # no arrow points up any more


def _layer(module: str) -> int:
    for row, names in enumerate(LAYERS):
        if any(module == n or module.startswith(n + ".") for n in names if n != "mnistlab"):
            return row
    assert module == "mnistlab", f"{module} is in no row of LAYERS (README.md's Layout)"
    return next(row for row, names in enumerate(LAYERS) if "mnistlab" in names)


def test_every_module_imports_only_its_row_or_rows_below():
    graph = _imports()
    up = {
        (name, target)
        for name, targets in graph.items()
        for target in targets
        if _layer(target) > _layer(name)
    }
    assert up <= KNOWN_UP, f"imports up the layer table: {sorted(up - KNOWN_UP)}"


def test_the_calibration_package_stays_below_inference():
    """Fitting lives above inference (train.calibrate); the types, the rule and the detector
    need nothing above models."""
    graph = _imports()
    above = ("mnistlab.runs", "mnistlab.inference", "mnistlab.synth", "mnistlab.data")
    above += ("mnistlab.train", "mnistlab.evaluate")
    for name, targets in graph.items():
        if name.startswith("mnistlab.calibration"):
            assert not {t for t in targets if t.startswith(above)}, name


def test_the_layer_check_sees_an_import_up():
    assert _layer("mnistlab.calibration.rule") < _layer("mnistlab.runs.meta")
    assert _layer("mnistlab.train.calibrate") > _layer("mnistlab.inference.predictor")


def test_inference_and_serve_never_import_training_or_the_cli():
    graph = _imports()
    for name, targets in graph.items():
        if name.startswith(("mnistlab.inference", "mnistlab.serve", "mnistlab.runs")):
            bad = {t for t in targets if t.startswith(("mnistlab.train", "mnistlab.cli"))}
            assert not bad, f"{name} imports {bad}"
        if not name.startswith("mnistlab.cli") and name != "mnistlab.__main__":
            assert not any(t.startswith("mnistlab.cli") for t in targets), name


def test_loading_a_model_for_serving_leaves_the_engine_unloaded():
    code = (
        "import sys, mnistlab\n"
        "from mnistlab.serve.app import create_app\n"
        "create_app(mnistlab.load('lenet5'))\n"
        "loaded = [m for m in sys.modules if m.startswith(('mnistlab.train', 'mnistlab.cli'))]\n"
        "print(loaded)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
