"""The package's layers: imports only go down, and no module reaches another's privates.

docs/architecture.md describes the layers; this test is their contract.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "skpneumo"

# Each top-level module or subpackage, by layer: a module may import from lower
# layers and from its own subpackage, never from its layer's peers or from above.
LAYERS = {
    "exceptions": 0,
    "utils": 1,
    "io": 2,
    "datasets": 3,
    "preprocessing": 3,
    "network": 3,
    "estimators": 4,
    "evaluation": 5,
    "workflows": 6,
    "serving": 7,
    "cli": 8,
    "__main__": 9,
}


def _modules():
    return sorted(PACKAGE.rglob("*.py"))


def _dotted(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _unit(dotted):
    """The layer unit of a module: ``skpneumo.network.model`` -> ``network``."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports(path):
    """``(line, imported module, imported names)`` for every skpneumo import in ``path``,
    inside functions too."""
    dotted = _dotted(path)
    package = dotted if path.name == "__init__.py" else dotted.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module == "skpneumo" or module.startswith("skpneumo."):
                found.append((node.lineno, module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("skpneumo"):
                    found.append((node.lineno, alias.name, []))
    return found


def _lazy_targets(path):
    """Modules named in a package's lazy ``_EXPORTS`` map, resolved."""
    package = _dotted(path)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_EXPORTS" for t in node.targets):
            return {package + value.value for value in node.value.values}
    return set()


def test_every_unit_has_a_layer():
    units = {_unit(_dotted(path)) for path in _modules()} - {""}
    assert units == set(LAYERS), "give new modules and subpackages a layer in LAYERS"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_go_down(path):
    dotted = _dotted(path)
    unit = _unit(dotted)
    if not unit:
        return  # skpneumo/__init__.py re-exports from every layer, lazily
    wrong = []
    for line, module, _ in _imports(path):
        target = _unit(module)
        if target == unit or (target == "" and LAYERS[unit] >= LAYERS["cli"]):
            continue  # the command line may use the package's public face
        if target == "" or LAYERS[target] >= LAYERS[unit]:
            wrong.append(f"line {line}: {module} (layer {LAYERS.get(target, 'top')}) "
                         f"from {unit} (layer {LAYERS[unit]})")
    assert not wrong, f"{dotted} imports upwards or sideways:\n" + "\n".join(wrong)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_private_names_of_other_modules(path):
    dotted = _dotted(path)
    wrong = [f"line {line}: {name} from {module}"
             for line, module, names in _imports(path) if module != dotted
             for name in names if name.startswith("_") and not name.startswith("__")]
    assert not wrong, f"{dotted} imports private names:\n" + "\n".join(wrong)


# Private members reached on objects other than self: each is a third-party extension
# point (with a why-comment where it is used) or the module's own helper.
PRIVATE_ACCESS_ALLOWED = {
    ("estimators/classifier.py", "BaseEstimator._get_param_names"),
    ("estimators/classifier.py", "clf._validate_data"),  # from_network, on the instance it builds
    ("estimators/pipeline.py", "Pipeline._can_transform"),
    ("estimators/pipeline.py", "Pipeline._fit"),
    ("estimators/pipeline.py", "step._validate_params"),
    ("estimators/pipeline.py", "self.pipeline._transform_head"),  # _FusedSteps, same module
}


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_private_members_of_other_objects(path):
    where = str(path.relative_to(PACKAGE))
    wrong = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")):
            continue
        owner = node.value
        if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
            continue
        if isinstance(owner, ast.Call) and getattr(owner.func, "id", None) == "super":
            continue
        if (where, ast.unparse(node)) not in PRIVATE_ACCESS_ALLOWED:
            wrong.append(f"line {node.lineno}: {ast.unparse(node)}")
    assert not wrong, f"{where} reaches private members of other objects:\n" + "\n".join(wrong)


def test_no_import_cycles():
    graph = {_dotted(path): {module for _, module, _ in _imports(path)} for path in _modules()}
    for path in _modules():
        if path.name == "__init__.py":
            graph[_dotted(path)] |= _lazy_targets(path)

    def visit(node, trail):
        if node in trail:
            cycle = trail[trail.index(node):] + [node]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        for nxt in graph.get(node, ()):
            visit(nxt, trail + [node])

    for start in graph:
        visit(start, [])


def test_the_cli_is_imported_by_nothing_but_main():
    importers = [_dotted(path) for path in _modules()
                 if any(module == "skpneumo.cli" for _, module, _ in _imports(path))]
    assert importers == ["skpneumo.__main__"]


def test_importing_the_package_loads_no_tensorflow():
    import subprocess
    import sys

    code = ("import sys, skpneumo, skpneumo.cli, skpneumo.datasets, skpneumo.io, skpneumo.preprocessing, "
            "skpneumo.evaluation; skpneumo.load_chest_xray; skpneumo.evaluation.bootstrap_intervals; "
            "print(sorted(m for m in ('keras', 'tensorflow', 'jax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
