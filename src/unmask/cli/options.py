"""Shared by the commands whose options mirror a config model (``train``, ``generate``): the model's defaults
in the help text (declared once, in the model), a ``--config`` YAML merged under the given options, text files."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from ..errors import UnmaskError
from ..generate.config import GenerateConfig
from ..models.train import TrainConfig


def _config(cls: Any, config_file: Optional[Path], given: dict[str, Any],
            aliases: Optional[dict[str, str]] = None) -> Any:
    """Build a pydantic config from an optional YAML file plus the options given on the command line (which
    win). The file's keys are the config's field names or the command's option names (``max-new-tokens``,
    ``sample``); unknown keys are errors."""
    from pydantic import ValidationError

    base: dict[str, Any] = {}
    if config_file is not None:
        import yaml

        try:
            base = yaml.safe_load(config_file.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise UnmaskError(f"{config_file}: cannot read ({type(exc).__name__})") from None
        if not isinstance(base, dict):
            raise UnmaskError(f"{config_file}: expected a mapping of settings")
        names = {str(k).replace("-", "_"): v for k, v in base.items()}
        base = {(aliases or {}).get(k, k): v for k, v in names.items()}
    base.update({k: v for k, v in given.items() if v is not None})
    try:
        return cls(**base)
    except ValidationError as exc:
        errors = exc.errors()
        err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])  # a misspelt key first
        loc = ".".join(str(x) for x in err["loc"]) or "config"
        where = f"{config_file}: " if config_file else ""
        if err["type"] == "missing":
            raise UnmaskError(f"{where}--{loc.replace('_', '-')}: required (on the command line or in --config)") \
                from None
        raise UnmaskError(f"{where}{loc.replace('_', '-')}: {err['msg']}") from None


def _gen(name: str) -> str:
    """``GenerateConfig``'s default for ``name`` as the help text prints it (declared once, in the model)."""
    return str(GenerateConfig.model_fields[name].default)


def _train(name: str) -> str:
    """``TrainConfig``'s default for ``name`` as the help text prints it (declared once, in the model)."""
    return str(TrainConfig.model_fields[name].default)


def _read_text(path: Path, option: str) -> str:
    """A text file's content for ``option``; unreadable or empty is one error naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UnmaskError(f"{path}: cannot read {option} ({getattr(exc, 'strerror', None) or type(exc).__name__})") \
            from None
    if not text.strip():
        raise UnmaskError(f"{path}: {option} is empty")
    return text.strip()


def _flag(value: bool) -> Optional[bool]:
    return True if value else None
