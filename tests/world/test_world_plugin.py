"""The tiny world is a plugin: no product module knows it, and it plugs in through the public registries."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "unmask"
WORLD = SRC / "world"


def _product_modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if WORLD not in p.parents)


def _world_refs(path: Path, root: Path = SRC.parent) -> list[str]:
    """Every import of the world and every mention of ``unmask.world`` (code, strings, comments) in a module."""
    where = path.relative_to(root)
    package = where.with_suffix("").parts[:-1]  # the package a relative import starts from
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            mod = ".".join([*base, *(node.module.split(".") if node.module else [])])
            names = [mod, *(f"{mod}.{a.name}" for a in node.names)]
        found += [f"{where}:{node.lineno}: imports {n}" for n in names
                  if n == "unmask.world" or n.startswith("unmask.world.")]
    found += [f"{where}:{i}: names unmask.world" for i, line in enumerate(path.read_text().splitlines(), 1)
              if "unmask.world" in line]
    return found


def test_no_product_module_imports_or_names_the_world():
    refs = [r for p in _product_modules() for r in _world_refs(p)]
    assert refs == []


def test_the_scan_finds_a_world_import(tmp_path):
    """The scan above can fail: a relative import of the world from a product module is caught."""
    fake = tmp_path / "unmask" / "pipeline" / "fake.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("from ..world import export\nfrom .. import world\nx = 'unmask.world.attack'\n")
    refs = _world_refs(fake, tmp_path)
    assert [r.split(": ", 1)[1] for r in refs] == [
        "imports unmask.world", "imports unmask.world.export", "imports unmask.world", "names unmask.world"], refs


def test_the_plugin_is_declared_as_an_entry_point():
    import tomllib

    doc = tomllib.loads((SRC.parents[1] / "pyproject.toml").read_text())
    assert doc["project"]["entry-points"]["unmask.plugins"] == {"world": "unmask.world.plugin"}


@pytest.fixture()
def plugin_loaded():
    """The plugin as load_plugins() finds it (its entry point may not be installed in this environment)."""
    from importlib.metadata import entry_points

    if not any(ep.value == "unmask.world.plugin" for ep in entry_points(group="unmask.plugins")):
        pytest.skip("the unmask.plugins entry point is not installed (pip install -e . after adding it)")
    from unmask.registry import load_plugins

    load_plugins()


def test_after_load_plugins_every_world_extension_resolves(plugin_loaded):
    from unmask.attacks import get_attack
    from unmask.cli import _register, app
    from unmask.data.sources import SOURCES, split_ref
    from unmask.models.registry import builtin_family, get_family
    from unmask.probe.sources import PROBE_SETS

    tiny = get_family("tiny")
    assert type(tiny).__module__ == "unmask.world.family" and builtin_family("tiny") is tiny
    assert type(get_attack("world-typo")).__module__ == "unmask.world.attack"
    assert split_ref("world:train") == ("world", "train") and split_ref("data/train.json") is None
    assert len(SOURCES.get("world").version()) == 16
    assert PROBE_SETS.get("world").builder.__module__ == "unmask.world.probe"
    _register()
    assert "world" in {g.name for g in app.registered_groups}
    assert "demo" in {c.name or c.callback.__name__ for c in app.registered_commands}


def test_help_lists_the_plugin_commands_without_heavy_imports(plugin_loaded):
    code = ("import sys\nfrom unmask.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'PIL', 'transformers', 'unmask.attacks', 'unmask.world.attack') "
            "if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "world" in res.stdout and "demo" in res.stdout
    assert res.stdout.strip().splitlines()[-1] == "[]"


def test_plan_exports_generated_data_through_the_source_registry(plugin_loaded):
    from unmask.pipeline.config import Experiment
    from unmask.pipeline.stages import build_plan

    exp = Experiment(name="t", data={"sources": ["world:train"]}, include_base=False,
                     source_options={"world": {"n_train": 10}},
                     branches=[{"label": "m", "mix": {"fraction": 0.1}}],
                     benches=[{"label": "b", "kind": "world-typo", "input": "world:harmful"}])
    stages = {s.label: s for s in build_plan(exp).plan.stages}
    export = stages["world-data"]
    assert export.kind == "source-data" and export.params["source"] == "world"
    assert export.params["options"] == {"n_train": 10}
    assert stages["mix/m"].deps["source:world"] == "world-data" == stages["train/m"].deps["source:world"]
    assert stages["attack/b"].params["input"] == "world:harmful"


def test_an_unknown_source_prefix_is_a_plan_error_naming_the_key():
    from unmask.errors import UnmaskError
    from unmask.pipeline.config import Experiment
    from unmask.pipeline.stages import build_plan

    exp = Experiment(name="t", data={"sources": ["nosuchsource:train"]},
                     benches=[{"label": "b", "kind": "text", "input": "q.csv"}])
    with pytest.raises(UnmaskError, match=r"data.sources.0: 'nosuchsource:train': no such file, and 'nosuchsource' "
                                          r"is not a data source"):
        build_plan(exp)
