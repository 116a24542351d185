"""The package's layers (neurorave/__init__.py, docs/python-layout.md): no import cycle,
and each layer imports only the layers declared below it. Read from the source with `ast`,
function-level and TYPE_CHECKING imports included; nothing is imported but the compiled
core, for its stub."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "python" / "neurorave"

# Top-level modules that every layer may use; they import nothing of the package.
BASE = {"config", "descriptors", "files", "plotting", "_core"}
# Each layer and the layers it may import, besides itself and the base.
LAYERS: dict[str, set[str]] = {
    "base": set(),
    "nn": set(),
    "format": {"nn"},
    "play": {"format", "nn"},
    "data": set(),
    "train": {"data", "format", "nn"},
    "eval": {"train", "data", "play", "format", "nn"},
    "top": {"eval", "train", "data", "play", "format", "nn"},  # cli.py, __init__.py
}


def module_name(path: Path) -> str:
    parts = ["neurorave", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("cli",):
        return "top"
    if parts[1] in BASE:
        return "base"
    return parts[1]


def imported_modules(module: str) -> set[str]:
    """The package modules `module` imports, anywhere in its code."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                # `from . import x` names a module when x is one, else a name in a package.
                candidate = f"{source}.{alias.name}"
                found.add(candidate if candidate in MODULES or
                          candidate == "neurorave._core" else source)
    return {name for name in found if name == "neurorave" or name.startswith("neurorave.")}


GRAPH = {module: imported_modules(module) for module in MODULES}


def test_every_layer_imports_only_the_layers_below_it():
    assert {layer_of(m) for m in MODULES} <= set(LAYERS), sorted(MODULES)
    wrong = []
    for module, targets in GRAPH.items():
        layer = layer_of(module)
        allowed = LAYERS[layer] | {layer, "base"}
        for target in targets:
            if layer_of(target) not in allowed:
                wrong.append(f"{module} ({layer}) imports {target} ({layer_of(target)})")
            elif layer == "base" and target != module:
                wrong.append(f"{module} is a base module and imports {target}")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle():
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = path[path.index(module):] + [module]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if module in done or module not in GRAPH:
            return
        for target in sorted(GRAPH[module]):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(GRAPH):
        visit(module, [])


def test_a_subpackage_imports_nothing_when_it_is_imported():
    """Importing one module of a layer never drags in its siblings (and torch with them):
    `neurorave info` reads format/cost.py and play/engine.py on the numpy-only install."""
    for module, path in MODULES.items():
        if path.name == "__init__.py" and module != "neurorave":
            assert not GRAPH[module], f"{path} imports {sorted(GRAPH[module])}"


def test_the_core_stub_matches_the_extension():
    """_core.pyi names what cpp/python/bindings.cpp defines, no more and no less."""
    from neurorave import _core

    stub = ast.parse((PACKAGE / "_core.pyi").read_text())
    classes = {node.name: node for node in stub.body if isinstance(node, ast.ClassDef)}
    functions = {node.name for node in stub.body if isinstance(node, ast.FunctionDef)}
    assert set(classes) | functions == {name for name in vars(_core) if not name.startswith("_")}
    for name, node in classes.items():
        stubbed = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
        stubbed |= {n.target.id for n in node.body
                    if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
        bound = {k for k in vars(getattr(_core, name)) if not k.startswith("_")}
        assert stubbed - {"__init__"} >= bound, f"{name}: not in the stub: {bound - stubbed}"
        assert {s for s in stubbed if not s.startswith("_")} <= bound, f"{name}: not bound"
