"""Check outside CI: TRL's own vision collator reads `unmask convert --to trl` output as is.

TRL is not an unmask dependency. Run in a separate venv that has it, e.g.

    python -m venv /tmp/trlvenv && /tmp/trlvenv/bin/pip install torch trl   # (or --no-deps over unmask's venv)
    PYTHONPATH=src /tmp/trlvenv/bin/python scripts/check_trl.py [PROCESSOR_DIR]

It writes a tiny LLaVA file (real PNGs, a marker-less record, a two-image record, a text-only record),
converts it with `unmask convert --to trl`, loads it with `datasets.load_dataset("json")`, and batches
it with `trl.trainer.sft_trainer.DataCollatorForVisionLanguageModeling` (which calls
`trl.data_utils.prepare_multimodal_messages` and the processor's chat template). Prints one line per
check; exits 1 on the first failure.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image


def main() -> int:
    proc_dir = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/realtok/llava-1.5-7b-hf"
    import datasets
    import trl
    from transformers import AutoProcessor
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    tmp = Path(tempfile.mkdtemp())
    (tmp / "img").mkdir()
    for i in range(3):
        Image.new("RGB", (16, 16), (0, 80 * i, 0)).save(tmp / "img" / f"{i}.png")
    rows = [
        {"id": "a", "image": "img/0.png", "conversations": [{"from": "human", "value": "<image>\nWhat is this?"},
                                                           {"from": "gpt", "value": "A square."}]},
        {"id": "b", "image": "img/1.png", "conversations": [{"from": "human", "value": "Describe."},
                                                           {"from": "gpt", "value": "Green."}],
         "metadata": {"refusal": True}},
        {"id": "c", "image": ["img/1.png", "img/2.png"],
         "conversations": [{"from": "human", "value": "<image>\nand\n<image>\ncompare"},
                           {"from": "gpt", "value": "Same."}]},
        {"id": "d", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]},
    ]
    (tmp / "llava.json").write_text(json.dumps(rows))
    out = tmp / "trl.jsonl"
    subprocess.run([sys.executable, "-m", "unmask", "convert", str(tmp / "llava.json"), "-o", str(out), "--to", "trl"],
                   check=True)
    ds = datasets.load_dataset("json", data_files=str(out), split="train")
    print(f"trl {trl.__version__}, datasets {datasets.__version__}: loaded {ds.num_rows} rows, columns {ds.column_names}")
    processor = AutoProcessor.from_pretrained(proc_dir)
    collator = DataCollatorForVisionLanguageModeling(processor)
    image_id = processor.tokenizer.convert_tokens_to_ids(processor.image_token)
    ok = True
    for row in ds:
        ex = {"messages": row["messages"], "images": row["images"]}
        # as datasets gives them: Arrow adds "text": None to image parts; TRL and the template select by type
        images = ex["images"]  # as the dataset holds them: absolute paths, opened by the processor
        batch = collator([ex])
        n_tokens = int((batch["input_ids"] == image_id).sum())
        expect = 576 * len(images)
        good = n_tokens == expect
        ok &= good
        print(f"{'ok ' if good else 'BAD'} {row['id']}: {len(images)} image(s), {n_tokens} image tokens (expected {expect});"
              f" text: {processor.tokenizer.decode(batch['input_ids'][0][batch['input_ids'][0] != image_id])!r}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
