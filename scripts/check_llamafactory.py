"""Check outside CI: LLaMA-Factory's own loader reads an `unmask mix --llamafactory NAME` output.

LLaMA-Factory is not an unmask dependency. Run in a separate venv that has it, e.g.

    python -m venv /tmp/trlvenv && /tmp/trlvenv/bin/pip install llamafactory   # (or --no-deps over unmask's venv)
    PYTHONPATH=src /tmp/trlvenv/bin/python scripts/check_llamafactory.py

It lays out data/llava.json with real JPEGs under data/img/, runs `unmask mix data/llava.json -o
lf/../mix.json --fraction 0.5 --llamafactory unmask_mix` (LLaVA output, then `--out-format messages`), and
loads the entry through LLaMA-Factory's `get_dataset_list` + `_load_single_dataset` (its file loader and
sharegpt converter, `dataset_dir` = the output's folder, `media_dir` its default). Checks: every record
is kept, every image resolves to a file, prompts/responses have LLaMA-Factory's shape, and the refusal
records end in the paper's sentence (what the paper's LLaMA-Factory edit compares with `==`). If
torchaudio is not installed (LLaMA-Factory imports it for audio only), an empty module stands in, and its
transformers version check is off (`DISABLE_VERSION_CHECK=1`).
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import subprocess
import sys
import tempfile
import types
from pathlib import Path

from PIL import Image

REFUSAL = "I'm sorry, but I cannot assist with your request"


def main() -> int:
    try:
        import torchaudio  # noqa: F401
    except (ImportError, OSError):  # audio only; not needed to load image data
        stub = types.ModuleType("torchaudio")
        stub.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None)
        sys.modules["torchaudio"] = stub
    os.environ.setdefault("DISABLE_VERSION_CHECK", "1")  # its transformers pin may lag unmask's; loading data is unaffected
    import llamafactory
    from llamafactory.data.loader import _load_single_dataset
    from llamafactory.data.parser import get_dataset_list
    from llamafactory.hparams import DataArguments, ModelArguments
    from transformers import Seq2SeqTrainingArguments

    tmp = Path(tempfile.mkdtemp())
    data = tmp / "data"
    (data / "img").mkdir(parents=True)
    rows = []
    for i in range(8):
        Image.new("RGB", (8, 8), (i * 30, 0, 0)).save(data / "img" / f"{i}.jpg", format="JPEG")
        rows.append({"id": f"r{i}", "image": f"img/{i}.jpg", "conversations": [
            {"from": "human", "value": f"<image>\nq{i}?"}, {"from": "gpt", "value": f"a{i}"},
            {"from": "human", "value": f"more {i}?"}, {"from": "gpt", "value": f"b{i}"}]})
    (data / "llava.json").write_text(json.dumps(rows))
    ok = True
    print(f"llamafactory {llamafactory.__version__}")
    for out_format in ("llava", "messages"):
        name = f"unmask_mix_{out_format}"
        out = tmp / f"mix-{out_format}.json"
        subprocess.run([sys.executable, "-m", "unmask", "mix", str(data / "llava.json"), "-o", str(out), "--fraction",
                        "0.5", "--out-format", out_format, "--llamafactory", name], check=True)
        attr = get_dataset_list([name], str(tmp))[0]
        data_args = DataArguments(dataset_dir=str(tmp), dataset=name)
        ds = _load_single_dataset(attr, ModelArguments(model_name_or_path="unused"), data_args,
                                  Seq2SeqTrainingArguments(output_dir=str(tmp / "t"), report_to=[]))
        n_ref = 0
        for ex in ds:
            imgs = ex["_images"] or []
            good = (len(imgs) == 1 and all(os.path.isfile(p) for p in imgs) and len(ex["_prompt"]) % 2 == 1
                    and len(ex["_response"]) == 1)
            if ex["_response"][0]["content"] == REFUSAL:
                n_ref += 1
                good &= len(ex["_prompt"]) == 1
            ok &= good
            if not good:
                print(f"BAD {out_format}: {ex}")
        good = ds.num_rows == len(rows) and n_ref == 4
        ok &= good
        print(f"{'ok ' if good else 'BAD'} {out_format}: {ds.num_rows} records loaded by LLaMA-Factory, images "
              f"resolved under dataset_dir {tmp}, {n_ref} end in the paper's refusal sentence; entry "
              f"{json.loads((tmp / 'dataset_info.json').read_text())[name]}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
