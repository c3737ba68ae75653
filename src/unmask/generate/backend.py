"""What a generation backend provides (:class:`Backend`), and the registry that names them.

A backend is built from a :class:`~unmask.generate.config.GenerateConfig` and answers samples a batch at a
time. Register a factory (usually the class) by name::

    @backend("mine")
    class MyBackend:
        name = "mine"

        def __init__(self, cfg: GenerateConfig) -> None:
            self.fingerprint = ...  # what identifies the model: part of every cache key

        def generate(self, samples: list[Sample]) -> list[str]: ...
        def close(self) -> None: ...

``unmask generate --backend mine`` and ``generate: {backend: mine}`` in an experiment then resolve it through
:data:`BACKENDS` (built-ins are imported on first use; plugins through the ``unmask.plugins`` entry points).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..registry import Registry

if TYPE_CHECKING:
    from ..data.records import Sample
    from ..http import Reply
    from .config import GenerateConfig

__all__ = ["BACKENDS", "Backend", "backend", "make_backend"]


@runtime_checkable
class Backend(Protocol):
    """One loaded model (or endpoint) that answers samples.

    ``generate`` returns one answer per sample, in order: the text, or a reply carrying ``content`` and the
    server's ``finish_reason`` (``"length"``: cut off). ``notes()`` (optional) adds to the output's manifest.
    """

    name: str
    fingerprint: str

    def generate(self, samples: list[Sample]) -> list[str | Reply]: ...

    def close(self) -> None: ...


#: backend name -> factory ``(GenerateConfig) -> Backend``.
BACKENDS: Registry[Callable[[GenerateConfig], Backend]] = Registry("backend")
BACKENDS.lazy("hf", "unmask.generate.hf")
BACKENDS.lazy("openai", "unmask.generate.openai")
BACKENDS.lazy("vllm", "unmask.generate.vllm")


def backend(name: str, *, replace: bool = False) -> Callable[[Any], Any]:
    """Class (or factory) decorator: register a backend under ``name``."""
    return BACKENDS.register(name, replace=replace)


def make_backend(cfg: GenerateConfig) -> Backend:
    """The backend ``cfg.backend`` names, built from ``cfg``."""
    return BACKENDS.get(cfg.backend)(cfg)
