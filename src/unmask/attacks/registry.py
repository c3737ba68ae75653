"""The two registries (attack kinds, question-set loaders), the :class:`Question` they exchange, and
the :class:`Attack` base class. See the package docstring for the plugin protocol."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ..errors import UnmaskError
from ..registry import Registry, load_plugins

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "ATTACKS",
    "LOADERS",
    "OVERFLOW",
    "Attack",
    "Question",
    "attack",
    "detect_loader",
    "get_attack",
    "get_loader",
    "lazy_kinds",
    "loader",
    "parse_option",
]

OVERFLOW = ("error", "clip", "break")


class Question(BaseModel):
    """One request of a question set, as a loader hands it to an attack kind.

    ``text`` is the request as plain text (what the ``text`` control sends). The optional fields carry
    what a set provides for its own attacks: FigStep's declarative ``instruction``, MM-SafetyBench's
    ``key_phrase``, the ``prompts`` a set pairs with its image variants (``typo``, ``sd_typo``,
    ``picture``) and the ``images`` it ships (``picture``, ``typo``, ``sd_typo``: absolute paths).
    ``where`` locates the row for error messages (``file.csv: record 3 (id 'x'), line 4``).
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    text: str
    category: str = ""
    harmful: bool = True
    source: dict[str, Any] = Field(default_factory=dict)
    instruction: str | None = None
    key_phrase: str | None = None
    prompts: dict[str, str] = Field(default_factory=dict)
    images: dict[str, str] = Field(default_factory=dict)
    where: str = ""


class Attack:
    """Base class of an attack kind. Register a subclass with ``@attack("name")``.

    Override :meth:`render` (and :meth:`prompt_for` when the text prompt is not the request). A kind
    that makes no image sets ``makes_images = False``. ``OPTIONS`` maps each option the kind accepts
    to its default; the CLI passes ``--prompt``, ``--overflow``, ``--font``, ``--pictures`` and every
    ``--option KEY=VALUE`` as keyword arguments, and an option the kind does not list is an error.
    Instances are sent to worker processes, so keep them picklable (load fonts lazily, e.g. with
    :func:`unmask.attacks.fonts.load_font`, which caches per process).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    makes_images: ClassVar[bool] = True
    OPTIONS: ClassVar[dict[str, Any]] = {"prompt": None}

    def __init__(self, **options: Any) -> None:
        unknown = sorted(k for k, v in options.items() if k not in self.OPTIONS and v is not None)
        if unknown:
            known = ", ".join(sorted(self.OPTIONS)) or "none"
            raise UnmaskError(f"attack kind {self.name!r} has no option {unknown[0]!r} (known: {known})")
        self.opts: dict[str, Any] = {k: (options[k] if options.get(k) is not None else v)
                                     for k, v in self.OPTIONS.items()}
        for k, default in self.OPTIONS.items():
            v = self.opts[k]
            if default is None or v is default:
                continue
            if isinstance(default, list):
                v = list(v) if isinstance(v, (list, tuple)) else v
                ok = isinstance(v, list) and len(v) == len(default) and all(type(x) is int for x in v)
            else:
                ok = type(v) is type(default) or (type(default) is float and type(v) is int)
            if not ok:
                raise UnmaskError(f"attack kind {self.name!r}: option {k} must look like {default!r}, "
                                  f"got {self.opts[k]!r}")
            self.opts[k] = v
        if "overflow" in self.opts and self.opts["overflow"] not in self.overflow_modes():
            raise UnmaskError(f"attack kind {self.name!r}: --overflow must be one of "
                              f"{', '.join(self.overflow_modes())}, not {self.opts['overflow']!r}")

    # -- what a kind overrides ------------------------------------------------------------------
    def overflow_modes(self) -> tuple[str, ...]:
        return OVERFLOW

    def prompt_for(self, q: Question) -> str:
        """The text prompt sent with the image. ``--prompt`` replaces it (``{question}`` -> request)."""
        return self._template(q.text)

    def render(self, q: Question) -> Image.Image:
        """Draw the image for ``q`` (mode ``L`` for gray content, else ``RGB``; saved as RGB PNG)."""
        raise NotImplementedError(f"attack kind {self.name!r} makes no image")

    def render_key(self, q: Question) -> Any:
        """Equal keys mean equal images: rendered once, shared by the samples. ``None``: no sharing."""
        return None

    def existing_image(self, q: Question) -> Path | None:
        """A picture the question set already ships for this kind (copied, not re-rendered)."""
        return None

    def check(self, q: Question) -> None:
        """Cheap checks in the main process before any rendering (e.g. a user picture exists)."""

    def fonts(self) -> list[Path]:
        """Font files this kind draws with (their sha256 goes into the manifest)."""
        return []

    def params(self) -> dict[str, Any]:
        """Everything that determines the output, for the manifest."""
        return dict(self.opts)

    def extra_counts(self) -> dict[str, Any]:
        """Counts gathered by :meth:`check` (e.g. rows clipped), added to the manifest's counts."""
        return {}

    def manifest_extra(self) -> dict[str, Any]:
        """More for the manifest, gathered by :meth:`check` (e.g. which rows were clipped)."""
        return {}

    def notes(self, total: int) -> list[str]:
        """One-line notes for stderr after a build of ``total`` samples (e.g. how many rows were clipped)."""
        return []

    # -- helpers --------------------------------------------------------------------------------
    def _template(self, default: str, question: str | None = None) -> str:
        tpl = self.opts.get("prompt")
        if tpl is None:
            return default
        return tpl.replace("{question}", question if question is not None else default)


#: attack kinds and question-set loaders: the one :class:`~unmask.registry.Registry` type, so a plugin's kind or
#: loader resolves wherever a name is (``unmask attack``, ``unmask run``) and a taken name is an error.
ATTACKS: Registry[type[Attack]] = Registry("attack kind")
LOADERS: Registry[Callable[..., list[Question]]] = Registry("loader")
_DETECTORS: dict[str, Callable[[Path], bool]] = {}

# Built-in kinds in modules of their own, imported on first use.
ATTACKS.lazy("ocr-text", "unmask.attacks.ocr_text")
ATTACKS.lazy("defence-prompt", "unmask.attacks.defence_prompt")


def attack(name: str, *, replace: bool = False) -> Callable[[type[Attack]], type[Attack]]:
    """Class decorator: register an :class:`Attack` subclass as kind ``name`` (a taken name is an error unless
    ``replace=True``)."""

    def deco(cls: type[Attack]) -> type[Attack]:
        if not (isinstance(cls, type) and issubclass(cls, Attack)):
            raise TypeError(f"@attack({name!r}) needs a subclass of unmask.attacks.Attack")
        ATTACKS.add(name, cls, replace=replace)
        cls.name = name
        return cls

    return deco


def loader(name: str, *, detect: Callable[[Path], bool] | None = None, replace: bool = False) -> Callable:
    """Function decorator: register ``fn(path, **options) -> list[Question]`` as loader ``name``.

    ``detect(path) -> bool`` (optional) lets ``unmask attack`` pick this loader when ``--loader`` is
    not given; it must be cheap and must not raise.
    """

    def deco(fn: Callable[..., list[Question]]) -> Callable[..., list[Question]]:
        LOADERS.add(name, fn, replace=replace)
        if detect is not None:
            _DETECTORS[name] = detect
        return fn

    return deco


def get_attack(name: str, **options: Any) -> Attack:
    """An instance of attack kind ``name`` with ``options`` (plugins are loaded when the name is not built in)."""
    return ATTACKS.get(name)(**options)


def lazy_kinds() -> dict[str, str]:
    """Kinds defined in other modules, imported on first use: unmask's own and those plugins declare (with
    ``ATTACKS.lazy`` or ``unmask.registry.lazy("attack kind", NAME, MODULE)``)."""
    from ..registry import load_plugins

    load_plugins()
    return ATTACKS.lazy_map()


def get_loader(name: str) -> Callable[..., list[Question]]:
    return LOADERS.get(name)


def detect_loader(path: Path) -> str:
    """The registered loader whose detector accepts ``path`` (first registered wins)."""
    path = Path(path)
    if not path.exists():
        raise UnmaskError(f"{path}: no such file or folder")
    tried: set[str] = set()
    for load in (None, load_plugins):  # the registered loaders first; plugins' only when none recognises it
        if load is not None:
            load()
        for name, fn in list(_DETECTORS.items()):
            if name in tried or name not in LOADERS:  # tried already / unregistered since
                continue
            tried.add(name)
            try:
                if fn(path):
                    return name
            except Exception:  # a detector must not break detection for the others
                continue
    raise UnmaskError(f"{path}: cannot tell which question set this is; pass --loader "
                      f"({', '.join(LOADERS.names())})")


def parse_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` -> (key, value); the value is read as JSON when it parses (``3``, ``true``)."""
    key, sep, value = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key:
        raise UnmaskError(f"--option {text!r}: expected KEY=VALUE")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value
