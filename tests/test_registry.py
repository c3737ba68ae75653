"""The one registry type and the one plugin loader: duplicate policy, aliases, lazy built-ins, plugins
(entry points) resolving under the single commands and under ``unmask run`` alike, broken plugins."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from unmask import registry as reg
from unmask.errors import UnmaskError
from unmask.registry import Registry

SRC = str(Path(__file__).resolve().parents[1] / "src")


class _Thing:
    pass


# --- the Registry type ------------------------------------------------------------------------------------
def test_duplicate_policy_one_for_all():
    r: Registry[object] = Registry("thing")
    a, b = _Thing(), object()
    r.add("a", a)
    r.add("a", a)  # the very same object again (a module imported twice): harmless
    with pytest.raises(UnmaskError, match=r"^thing 'a' is registered twice \(pass replace=True to override\)$"):
        r.add("a", b)
    assert r.get("a") is a
    r.add("a", b, replace=True)
    assert r.get("a") is b


@pytest.mark.parametrize("kind", ["judge", "attack", "loader", "family", "backend"])
def test_every_decorator_refuses_a_taken_name(kind):
    from unmask.attacks import Attack, attack, loader
    from unmask.generate import backend
    from unmask.judges import Judge, judge
    from unmask.models import Family, family

    taken = {"judge": "keyword", "attack": "figstep", "loader": "safebench", "family": "llava", "backend": "hf"}[kind]
    deco, base = {"judge": (judge, Judge), "attack": (attack, Attack), "loader": (loader, object),
                  "family": (family, Family), "backend": (backend, object)}[kind]
    from unmask.attacks import ATTACKS, LOADERS, get_loader
    from unmask.generate import BACKENDS
    from unmask.judges import JUDGES
    from unmask.models import get_family

    registry = {"judge": JUDGES, "attack": ATTACKS, "loader": LOADERS, "backend": BACKENDS}.get(kind)
    before = get_family(taken) if kind == "family" else (get_loader(taken) if kind == "loader"
                                                         else registry.get(taken))
    if kind == "loader":
        def impostor(path):
            return []
    else:
        impostor = type("Impostor", (base,), {})
    with pytest.raises(UnmaskError, match=f"'{taken}' is registered twice"):
        deco(taken)(impostor)
    after = get_family(taken) if kind == "family" else registry.get(taken)
    assert after is before  # the built-in is untouched


def test_alias_resolves_and_is_not_listed():
    r: Registry[object] = Registry("thing")
    a = _Thing()
    r.add("alpha", a, aliases=("a", "al"))
    assert r.get("a") is a and r.get("al") is a and "al" in r
    assert r.names() == ["alpha"]
    with pytest.raises(UnmaskError, match=r"^unknown thing 'b' \(choose from alpha\)$"):
        r.get("b")
    assert r.pop("alpha") is a and "a" not in r


def test_lazy_builtin_is_imported_only_on_demand(tmp_path, monkeypatch):
    (tmp_path / "lazy_thing_mod.py").write_text(textwrap.dedent("""
        from tests_lazy_registry import R
        R.add("late", object())
    """))
    import types

    holder = types.ModuleType("tests_lazy_registry")
    holder.R = Registry("thing")
    monkeypatch.setitem(sys.modules, "tests_lazy_registry", holder)
    monkeypatch.syspath_prepend(str(tmp_path))
    holder.R.lazy("late", "lazy_thing_mod")
    assert "late" in holder.R and holder.R.names() == ["late"]
    assert "lazy_thing_mod" not in sys.modules  # listed without importing
    holder.R.get("late")
    assert "lazy_thing_mod" in sys.modules
    monkeypatch.delitem(sys.modules, "lazy_thing_mod")


def test_builtins_of_each_kind_load_on_demand():
    # a fresh interpreter: listing names imports no built-in module; asking for one imports just it
    code = textwrap.dedent("""
        import sys
        from unmask.judges import available, get_judge
        from unmask.generate import BACKENDS, GenerateConfig
        from unmask.models.registry import get_family
        assert "llm" in available() and "keyword" in available()
        assert "unmask.judges.llm" not in sys.modules and "unmask.judges.keyword" not in sys.modules
        get_judge("keyword")
        assert "unmask.judges.keyword" in sys.modules and "unmask.judges.llm" not in sys.modules
        assert BACKENDS.names() == ["hf", "openai", "vllm"]
        GenerateConfig(model="m", bench="b", out="o", backend="vllm")
        assert "unmask.generate.vllm" not in sys.modules and "unmask.generate.hf" not in sys.modules
        assert "unmask.models.builtin" not in sys.modules
        from unmask.models.registry import FAMILIES
        declared = dict(FAMILIES._aliases)  # the lazy table's aliases, before unmask.models.builtin is imported
        assert get_family("qwen2.5-vl").name == "qwen2_vl"  # an alias resolves before its module is imported
        from unmask.models import families
        assert declared == {a: n for n, f in families().items() for a in f.aliases}, declared
        assert "torch" not in sys.modules
        print("ok")
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"}, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


# --- plugins ----------------------------------------------------------------------------------------------
PLUGIN = '''
from unmask.attacks import Attack, Question, attack, loader
from unmask.data.records import Verdict
from unmask.generate import backend
from unmask.judges import Judge, judge
from unmask.models import Family, family


@attack("plug-kind")
class PlugKind(Attack):
    """A plugin's kind: the request as text."""
    makes_images = False


@loader("plug-lines", detect=lambda path: path.suffix == ".plug")
def plug_lines(path, **options):
    """A plugin's loader: one question per line."""
    return [Question(id=f"q{i}", text=t, where=f"{path}: line {i + 1}")
            for i, t in enumerate(path.read_text().splitlines())]


@judge("plug-judge")
class PlugJudge(Judge):
    def judge(self, items):
        for i, it in enumerate(items):
            yield i, self.verdict(it, "refused", "plugin")


@family("plug-family")
class PlugFamily(Family):
    aliases = ("plugfam",)
    model_classes = {"plugmodel": "LlavaForConditionalGeneration"}


@backend("plug-backend")
class PlugBackend:
    name = "plug-backend"

    def __init__(self, cfg):
        self.fingerprint = "plug"

    def generate(self, samples):
        return ["I cannot help with that." for _ in samples]

    def close(self):
        pass
'''

NAMES = {"ATTACKS": "plug-kind", "LOADERS": "plug-lines", "JUDGES": "plug-judge", "FAMILIES": "plug-family",
         "BACKENDS": "plug-backend"}


def _registries():
    from unmask.attacks import ATTACKS, LOADERS
    from unmask.generate import BACKENDS
    from unmask.judges import JUDGES
    from unmask.models.registry import FAMILIES

    return {"ATTACKS": ATTACKS, "LOADERS": LOADERS, "JUDGES": JUDGES, "FAMILIES": FAMILIES, "BACKENDS": BACKENDS}


def _fake_entry_points(monkeypatch, *eps: tuple[str, str, str]):
    fake = [importlib.metadata.EntryPoint(name=n, value=v, group=g) for g, n, v in eps]

    def entry_points(*, group=None, **_kw):
        return [ep for ep in fake if ep.group == group]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    monkeypatch.setattr(reg, "_plugins_loaded", False)
    monkeypatch.setattr(reg, "_plugins_error", None)  # restored afterwards, so a broken fake leaves nothing behind


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A plugin package installed through a (fake) ``unmask.plugins`` entry point; removed afterwards."""
    (tmp_path / "plugsite").mkdir()
    (tmp_path / "plugsite" / "unmask_test_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path / "plugsite"))
    _fake_entry_points(monkeypatch, ("unmask.plugins", "testplug", "unmask_test_plugin"))
    yield
    for key, r in _registries().items():
        r.pop(NAMES[key])
    sys.modules.pop("unmask_test_plugin", None)


def test_plugin_names_resolve_through_every_registry(plugin, tmp_path):
    from pydantic import ValidationError

    from unmask.attacks import detect_loader, get_attack, get_loader
    from unmask.generate import Backend, GenerateConfig, make_backend
    from unmask.judges import available, get_judge
    from unmask.models import detect_family, families, get_family

    assert "unmask_test_plugin" not in sys.modules  # nothing loaded until a name is missing
    assert get_attack("plug-kind").name == "plug-kind"
    assert "unmask_test_plugin" in sys.modules
    assert get_loader("plug-lines").__name__ == "plug_lines"
    (tmp_path / "q.plug").write_text("one\n")
    assert detect_loader(tmp_path / "q.plug") == "plug-lines"
    assert get_judge("plug-judge").name == "plug-judge" and "plug-judge" in available()
    assert get_family("plugfam") is get_family("plug-family") and "plug-family" in families()
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text('{"model_type": "plugmodel"}')
    assert detect_family(str(tmp_path / "m")).name == "plug-family"
    cfg = GenerateConfig(model="m", bench="b", out="o", backend="plug-backend")
    b = make_backend(cfg)
    assert isinstance(b, Backend) and b.fingerprint == "plug"
    with pytest.raises(ValidationError, match=r"backend\n  unknown backend 'nope' \(choose from hf, openai, plug-backend"):
        GenerateConfig(model="m", bench="b", out="o", backend="nope")


def test_plugin_names_resolve_under_unmask_run(plugin, tmp_path, run_cli):
    exp = tmp_path / "exp.yaml"
    exp.write_text(textwrap.dedent("""
        name: t
        model: {name: tiny, family: plugfam}
        data: {sources: [a.json]}
        benches: [{label: b, kind: plug-kind, input: q.txt, loader: plug-lines}]
        generate: {backend: plug-backend}
        judges: [{name: plug-judge}]
    """))
    code, _, err = run_cli("run", exp, "--dry-run", "-o", tmp_path / "run")
    assert code == 0, err
    assert "stage(s) to run" in err


def test_plugin_kind_and_loader_under_unmask_attack(plugin, tmp_path, run_cli):
    src = tmp_path / "q.txt"
    src.write_text("one\ntwo\n")
    code, _, err = run_cli("attack", "plug-kind", src, "--loader", "plug-lines", "-o", tmp_path / "b")
    assert code == 0, err
    code, out, _ = run_cli("attack", "--list")
    assert "plug-kind" in out and "A plugin's kind" in out and "plug-lines" in out


def test_unknown_name_lists_plugin_names_too(plugin):
    from unmask.judges import get_judge

    with pytest.raises(UnmaskError, match=r"^unknown judge 'nope' \(choose from .*plug-judge"):
        get_judge("nope")


def test_legacy_attack_group_is_still_read(tmp_path, monkeypatch):
    (tmp_path / "legacy_attack_plugin.py").write_text(
        "from unmask.attacks import Attack, attack\n\n@attack('legacy-kind')\nclass K(Attack):\n"
        "    makes_images = False\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    _fake_entry_points(monkeypatch, ("unmask.attacks", "legacy", "legacy_attack_plugin"))
    from unmask.attacks import ATTACKS, get_attack

    try:
        assert get_attack("legacy-kind").name == "legacy-kind"
    finally:
        ATTACKS.pop("legacy-kind")
        sys.modules.pop("legacy_attack_plugin", None)


def test_plugin_function_entry_point_is_called(tmp_path, monkeypatch):
    (tmp_path / "func_plugin.py").write_text(
        "def register():\n    from unmask.judges import JUDGES\n    JUDGES.add('func-judge', object)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    _fake_entry_points(monkeypatch, ("unmask.plugins", "f", "func_plugin:register"))
    from unmask.judges import JUDGES

    try:
        assert JUDGES.get("func-judge") is object
    finally:
        JUDGES.pop("func-judge")
        sys.modules.pop("func_plugin", None)


def test_broken_plugin_is_one_line_error(tmp_path, monkeypatch, run_cli):
    (tmp_path / "broken_plugin.py").write_text("raise RuntimeError('no GPU here\\nsecond line')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    _fake_entry_points(monkeypatch, ("unmask.plugins", "broken", "broken_plugin"))
    from unmask.judges import get_judge

    assert get_judge("keyword").name == "keyword"  # a built-in name needs no plugin: still works
    with pytest.raises(UnmaskError, match=r"^plugin 'broken' \(broken_plugin\) failed to load: RuntimeError"):
        get_judge("nope")
    monkeypatch.setattr(reg, "_plugins_loaded", False)
    code, _, err = run_cli("attack", "--list")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "plugin 'broken' (broken_plugin) failed to load" in lines[0], err
    sys.modules.pop("broken_plugin", None)
