"""Model families, loading, training batches and LoRA targets for Hugging Face VLMs.

- :mod:`.registry`  the :class:`Family` registry (``@family("llava")``), autodetection from ``model_type``
- :mod:`.builtin`   LLaVA-1.5, LLaVA-NeXT, Qwen2-VL / Qwen2.5-VL (plugins register more families)
- :mod:`.loading`   :func:`load_model` (safetensors only, processor/model match checked)
- :mod:`.batching`  :class:`Encoder` (chat template, assistant-only labels) and :func:`collate`
- :mod:`.adapt`     freezing and LoRA restricted to the language model
- :mod:`.testing`   tiny random checkpoints of each family, for tests and benchmarks
"""

from .registry import FAMILIES, Family, detect_family, families, family, get_family

__all__ = ["FAMILIES", "Family", "detect_family", "families", "family", "get_family", "load_model"]


def load_model(*args, **kwargs):  # noqa: ANN002, ANN003 - thin lazy re-export, see loading.load_model
    from .loading import load_model as _load

    return _load(*args, **kwargs)
