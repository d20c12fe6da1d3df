"""The house's layers (docs/ARCHITECTURE.md), checked in CI: the import-linter contracts in
pyproject.toml hold for this code and catch a violation; the app's rooms keep to their own private
attributes and features never plant attributes on (or replace methods of) the window."""
import ast
import re
import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: import-linter brings tomli
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "inpaint_studio" / "app"


def lint_imports(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd)}   # this checkout, not an installed copy
    return subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command as c; "
                           "sys.exit(c())", "--no-cache", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_layer_contracts_hold():
    proc = lint_imports(REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_the_contracts_name_real_modules():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    ours = tuple(config["root_packages"])
    named = set()
    for contract in config["contracts"]:
        named.update(contract.get("source_modules", []))
        named.update(m for m in contract.get("forbidden_modules", []) if m.startswith(ours))
        for layer in contract.get("layers", []):
            named.update(part.strip() for part in layer.split("|"))
    missing = [m for m in sorted(named) if importlib.util.find_spec(m) is None]
    assert not missing and len(named) > 20


def test_a_broken_contract_is_caught(tmp_path):
    """The same kind of contract on a tiny package whose 'engine' imports Qt: lint-imports fails
    and names the import."""
    pkg = tmp_path / "house"
    (pkg / "engine").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "engine" / "__init__.py").write_text("")
    (pkg / "engine" / "canvas.py").write_text("def draw():\n    from PySide6 import QtGui\n")
    (tmp_path / ".importlinter").write_text(textwrap.dedent("""
        [importlinter]
        root_package = house
        include_external_packages = True

        [importlinter:contract:no-qt]
        name = The engine never imports Qt
        type = forbidden
        source_modules = house.engine
        forbidden_modules = PySide6
        """))
    proc = lint_imports(tmp_path, str(tmp_path / ".importlinter"))
    assert proc.returncode == 1 and "BROKEN" in proc.stdout and "house.engine.canvas -> PySide6" in proc.stdout


def _trees(folder: Path):
    for path in sorted(folder.rglob("*.py")):
        yield path.relative_to(REPO), ast.parse(path.read_text(encoding="utf-8"))


def test_no_app_module_reaches_into_private_attributes():
    """`x._name` only on self or cls: controllers and features use each other's public API."""
    found = []
    for path, tree in _trees(APP):
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                owner = node.value
                if isinstance(owner, ast.Name) and owner.id in ("self", "cls", "s"):   # s: self in a property lambda
                    continue
                if isinstance(owner, ast.Call) and getattr(owner.func, "id", "") == "super":
                    continue
                found.append(f"{path}:{node.lineno}: {ast.unparse(node)}")
    assert not found, found


def test_features_set_no_attributes_on_the_window():
    """Features plug in through the window's hooks: an assignment `window.x = ...` (a replaced
    method, a planted attribute) in a feature room is refused."""
    window_source = (APP / "editor" / "main_window.py").read_text(encoding="utf-8")
    settable = set(re.findall(r"@(\w+)\.setter", window_source))   # the window's public properties
    found = []
    for room in ("guidance", "restoration", "training"):
        for path, tree in _trees(APP / room):
            for node in ast.walk(tree):
                targets = node.targets if isinstance(node, ast.Assign) else \
                    [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else []
                for target in targets:
                    if isinstance(target, ast.Attribute) and target.attr not in settable and ast.unparse(target.value) in (
                            "window", "w", "self.window", "self.window_", "self.editor"):
                        found.append(f"{path}:{node.lineno}: {ast.unparse(target)}")
    assert not found, found
