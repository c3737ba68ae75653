"""Each contract declared once: the CLI's options are built from the pydantic models and checked against them."""

from __future__ import annotations

import inspect

import pytest

from unmask.cli.data import mix
from unmask.mix.run import run_mix
from unmask.mix.settings import MixConfig, MixSettings
from unmask.pipeline.config import MixSpec


def _options(command) -> dict[str, object]:
    """Parameter name -> typer's OptionInfo / ArgumentInfo of a CLI command."""
    return {name: p.default for name, p in inspect.signature(command).parameters.items()}


# MixConfig fields that are not `unmask mix` options as they are, and why.
_NOT_AN_OPTION = {
    "refusals": "--refusals takes a bank FILE; its lines become MixConfig.refusals",
    "ablation_size": "fixed at LLaVA-1.5's CLIP input size; not a user setting",
}
# `unmask mix` options that are not mix settings: what to read and write (run_mix's keywords) and the CLI's own.
_CLI_ONLY = {"sources", "out", "refusals", "llamafactory"}


def test_every_mix_setting_is_an_option_with_the_models_default_and_help():
    opts = _options(mix)
    for name, field in MixConfig.model_fields.items():
        if name in _NOT_AN_OPTION:
            continue
        assert name in opts, f"mix setting {name!r} has no `unmask mix` option"
        assert opts[name].default == field.default, name
        assert opts[name].help == field.description, name
        assert f"--{name.replace('_', '-')}" in opts[name].param_decls, name


def test_every_mix_option_is_a_setting_or_a_run_mix_keyword():
    run_kw = inspect.signature(run_mix).parameters
    for name, info in _options(mix).items():
        if name in MixConfig.model_fields or name in _CLI_ONLY:
            continue
        assert name in run_kw, f"`unmask mix` option {name!r} is neither a mix setting nor a run_mix keyword"
        assert info.default == run_kw[name].default, name  # same default on the CLI and in the library


def test_recipe_mix_block_is_the_mix_settings_plus_its_own_keys():
    assert issubclass(MixSpec, MixSettings) and issubclass(MixConfig, MixSettings)
    own = set(MixSpec.model_fields) - set(MixSettings.model_fields)
    assert own == {"refusals", "refusal", "curated", "use_refusal_source"}
    for name, field in MixSettings.model_fields.items():
        assert MixSpec.model_fields[name].default == field.default
    spec = MixSpec(fraction=0.1, refusal="no.", curated=True)
    assert set(spec.method_settings()) == set(MixSettings.model_fields)
    MixConfig(**spec.method_settings())  # what a recipe branch hands the method is a valid MixConfig


@pytest.mark.parametrize("args,msg", [
    (["--fraction", "0.5", "--refusal-image", "sepia"], "mix: --refusal-image: Input should be 'keep'"),
    (["--rejections", "-1", "--keep", "2"], "mix: --rejections: Input should be greater than or equal to 0"),
    (["--fraction", "0.5", "--curated-count", "-3"], "mix: --curated-count: Input should be greater than or equal"),
])
def test_the_model_validates_the_cli(run_cli, tmp_path, args, msg):
    src = tmp_path / "a.json"
    src.write_text('[{"id": "a", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "x"}]}]')
    code, _, err = run_cli("mix", src, "-o", tmp_path / "out.json", *args)
    assert code == 2 and msg in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out.json").exists()


# Option name -> config field, where they differ; fields settable only in a --config YAML file.
_ALIASES = {"sample": "do_sample", "timeout": "timeout_s", "no_progress": "progress", "defence": "defences"}
_CONFIG_ONLY = {"train": {"weight_decay", "max_grad_norm", "num_workers"}, "generate": set()}


def _config_commands():
    from unmask.cli.generate import generate_cmd
    from unmask.cli.model import train_cmd
    from unmask.generate.config import GenerateConfig
    from unmask.models.train import TrainConfig

    return [("generate", generate_cmd, GenerateConfig), ("train", train_cmd, TrainConfig)]


@pytest.mark.parametrize("name,command,model", _config_commands(), ids=["generate", "train"])
def test_config_options_are_the_model_fields_and_name_its_defaults(name, command, model):
    opts = {_ALIASES.get(k, k): v for k, v in _options(command).items() if k != "config"}
    assert set(opts) == set(model.model_fields) - _CONFIG_ONLY[name]
    for field_name, info in opts.items():
        field = model.model_fields[field_name]
        if isinstance(field.default, bool) or field.is_required():  # a flag, or a required argument
            continue
        assert info.default is None, f"--{field_name}: the model applies the default (a --config file is not overridden)"
        if field.default is None or field.default_factory is not None:  # None, or an empty list
            continue
        assert f"default {field.default})" in info.help or f"default {field.default}." in info.help \
            or f"default {field.default};" in info.help, (
                f"{name} --{field_name}: help does not name the model's default {field.default!r}: {info.help!r}")
