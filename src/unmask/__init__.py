"""unmask: safety alignment of multimodal LLMs against vision-domain jailbreaks, measured."""

__version__ = "0.1.0"
__all__ = ["__version__"]
