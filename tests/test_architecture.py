"""The package's structure, checked: layers import only downward, no import circle, no private name used
outside the module that defines it, no module past ~400 lines without a stated reason (CONTRIBUTING,
"Map of the package")."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "fmlearn"

# Layers, lowest first. A module may import its own layer and the layers below, never one above.
LAYERS = {"core": 0, "mnist": 1, "experiments": 2, "teaching": 3}

# Modules allowed past the line limit, with the reason (kept short; CONTRIBUTING repeats them).
LONG_OK: dict[str, str] = {}
LINE_LIMIT = 400


def _modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the package."""
    out = {}
    for f in sorted(PKG.rglob("*.py")):
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


MODULES = _modules()


def _layer(module: str) -> int:
    if module == "fmlearn.__main__":  # the command line sits above every layer
        return max(LAYERS.values()) + 1
    parts = module.split(".")
    return LAYERS.get(parts[1], 0) if len(parts) > 1 else 0


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, path: Path, *, top_level_only: bool = False):
    """Yield (imported module, imported name or None, line) for every fmlearn import of a module.

    ``top_level_only``: only imports that run when the module is imported (not those inside functions),
    which are the ones that can make an import circle."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else ast.walk(tree)
    if top_level_only:  # also imports under a top-level `if` / `try`, which still run at import time
        nodes = [n for top in tree.body for n in ast.walk(top)
                 if not isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    for node in nodes:
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "fmlearn":
                    yield a.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node, path.name == "__init__.py")
            if target.split(".")[0] != "fmlearn":
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                yield (sub, None, node.lineno) if sub in MODULES else (target, a.name, node.lineno)


def test_the_package_has_its_layers_as_folders():
    for folder in ("mnist", "experiments", "teaching"):
        assert (PKG / folder / "__init__.py").is_file(), folder


def test_layers_import_only_downward():
    bad = []
    for module, path in MODULES.items():
        for target, _, line in _imports(module, path):
            if target in MODULES and _layer(target) > _layer(module):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {target} (a higher layer)")
    assert not bad, "\n".join(bad)


def test_no_import_circle():
    graph = {m: {t for t, _, _ in _imports(m, p, top_level_only=True) if t in MODULES and t != m}
             for m, p in MODULES.items()}
    # a package's __init__ importing its own submodules is not a circle with them
    for m in graph:
        graph[m] = {t for t in graph[m] if not (t.startswith(m + ".") and MODULES[m].name == "__init__.py")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycle = stack[stack.index(t):] + [t]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def _private(name: str | None) -> bool:
    return bool(name) and name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_private_name_is_used_outside_its_module():
    bad = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for target, name, line in _imports(module, path):
            if target != module and _private(name):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name} from {target}")
        # module._name through an imported module object
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = _resolve(module, node, path.name == "__init__.py")
                for a in node.names:
                    if f"{target}.{a.name}" in MODULES:
                        aliases[a.asname or a.name] = f"{target}.{a.name}"
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in MODULES and a.asname:
                        aliases[a.asname] = a.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and _private(node.attr) and aliases[node.value.id] != module):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert not bad, "\n".join(bad)


def test_notebooks_and_tools_call_no_private_function_of_the_package():
    sources = sorted((ROOT / "tools").rglob("*.py"))
    pattern = re.compile(r"\bfmlearn(?:\.\w+)*\.(_[a-z]\w*)|\bfrom fmlearn[\w.]* import [^\n]*\b(_[a-z]\w*)")
    bad = [f"{f.relative_to(ROOT)}: {m.group(0)}" for f in sources
           for m in pattern.finditer(f.read_text(encoding="utf-8"))]
    aliases = re.compile(r"^from fmlearn[\w.]* import (.+)$", re.M)
    for f in sorted((ROOT / "tools" / "notebook_src").glob("*.py")):
        text = f.read_text(encoding="utf-8")
        names = {n.strip().split(" as ")[-1] for line in aliases.findall(text) for n in line.split(",")}
        for n in names:
            for m in re.finditer(rf"\b{re.escape(n)}\.(_[a-z]\w*)", text):
                bad.append(f"{f.relative_to(ROOT)}: {m.group(0)}")
    assert not bad, "\n".join(bad)


def test_no_module_is_too_long_without_a_reason():
    long = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in MODULES.items()}
    bad = [f"{m}: {n} lines" for m, n in long.items() if n > LINE_LIMIT and m not in LONG_OK]
    assert not bad, "split these by concern (or give a reason in LONG_OK):\n" + "\n".join(bad)
