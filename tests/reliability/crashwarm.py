"""Imported by the crash trials' fork server: everything ``unmask`` loads lazily for train / generate / run,
so each forked child starts with it in memory (transformers resolves its classes on first attribute use)."""

import accelerate  # noqa: F401
import peft  # noqa: F401
import torch  # noqa: F401
import transformers
from accelerate import Accelerator  # noqa: F401
from peft import LoraConfig, PeftModel, get_peft_model  # noqa: F401
from transformers import (  # noqa: F401
    AutoConfig,
    AutoProcessor,
    AutoTokenizer,
    CLIPImageProcessor,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedTokenizerFast,
    get_scheduler,
)

import unmask.cli  # noqa: F401
from unmask.cli import _register

_register()
for _mod in ("unmask.models.trainer", "unmask.generate.hf", "unmask.world.model", "unmask.pipeline",
             "unmask.report", "unmask.report.plots", "unmask.judges.run", "unmask.judges.keyword", "unmask.mix.run",
             "unmask.attacks", "matplotlib.pyplot", "PIL.PngImagePlugin", "tqdm.auto"):
    __import__(_mod)
del transformers
