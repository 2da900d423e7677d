"""The layer rule of docs/architecture.md, checked on the imports of every module (AST):
a package imports only the layers below it."""
from __future__ import annotations

import ast
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]

#: package -> module prefixes it must not import (docs/architecture.md, "The layers")
FORBIDDEN = {
    "device_models": ("imcsim", "networks"),
    "networks": ("imcsim", "device_models"),
    "imcsim.engine": ("imcsim.costs", "imcsim.report", "imcsim.study", "imcsim.cli",
                      "imcsim.plot", "imcsim.simulation"),
    "imcsim.costs": ("imcsim.study", "imcsim.cli", "imcsim.report", "imcsim.plot",
                     "imcsim.simulation", "networks.zoo", "networks.quant"),
    "imcsim.report": ("imcsim.study", "imcsim.cli", "imcsim.plot", "imcsim.simulation",
                       "networks.zoo"),
    "imcsim.plot": ("imcsim.study", "imcsim.cli", "imcsim.simulation"),
    "imcsim.simulation": ("imcsim.study", "imcsim.cli", "networks.zoo"),
    "imcsim.study": ("imcsim.cli",),
}


def modules():
    for top in ("device_models", "networks", "imcsim"):
        for path in sorted((REPO / top).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            yield ".".join(parts), path


def imports(name: str, path: Path):
    """Absolute names of the modules ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            yield node.lineno, mod
            for alias in node.names:  # `from imcsim import costs` imports imcsim.costs
                yield node.lineno, f"{mod}.{alias.name}"


def owner(name: str) -> str | None:
    best = None
    for pkg in FORBIDDEN:
        if (name == pkg or name.startswith(pkg + ".")) and (best is None or len(pkg) > len(best)):
            best = pkg
    return best


def violations():
    out = []
    for name, path in modules():
        pkg = owner(name)
        if pkg is None:
            continue
        for line, mod in imports(name, path):
            for bad in FORBIDDEN[pkg]:
                if mod == bad or mod.startswith(bad + "."):
                    out.append(f"{path.relative_to(REPO)}:{line}: {pkg} imports {mod}")
    return sorted(set(out))


def test_the_layer_rule_holds():
    found = violations()
    assert not found, "\n".join(found)


def test_the_rule_catches_a_violation(tmp_path, monkeypatch):
    """The scanner sees absolute, relative and `from X import module` imports."""
    src = tmp_path / "m.py"
    src.write_text("import imcsim.study\nfrom ..report import summary\nfrom imcsim import cli\n")
    got = list(imports("imcsim.engine.m", src))
    assert (1, "imcsim.study") in got
    assert (2, "imcsim.report.summary") in got
    assert (3, "imcsim.cli") in got
