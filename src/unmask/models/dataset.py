"""The training set: every record encoded (and checked) before the first step.

Encoding up front catches what would otherwise fail mid-run: an undecodable image, a record with no
trained token, a template that drops replies. Over-long records are dropped and counted, never cut (a
cut can land inside an image's token run). Encoded samples are kept in memory while they fit a budget;
past it a sample is re-encoded when the loader asks for it.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..data.records import Conversation
from ..errors import UnmaskError, where
from .batching import Encoded, Encoder

__all__ = ["DataStats", "EpochSampler", "TrainDataset", "training_data"]

_CACHE_BYTES = 512 << 20


@dataclass
class DataStats:
    records: int = 0
    kept: int = 0
    dropped_too_long: int = 0
    image_records: int = 0
    text_only_records: int = 0
    refusal_records: int = 0
    no_eos_records: int = 0  # records whose end-of-turn --no-eos-on-refusal left untrained
    reference_mismatches: int = 0  # records the reference training code masks whole (it warns)
    trained_tokens: int = 0
    eot_tokens_masked: int = 0
    longest: int = 0
    shortest_dropped: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _nbytes(item: Encoded) -> int:
    tensors = [item.input_ids, item.labels, *item.seq.values(), *item.extra.values()]
    return sum(t.numel() * t.element_size() for t in tensors if t is not None)


class TrainDataset:
    """A map-style dataset of :class:`Encoded` training samples (works with ``torch.utils.data``)."""

    def __init__(self, records: list[Conversation], encoder: Encoder, source: str | Path) -> None:
        self.encoder = encoder
        self.records: list[Conversation] = []
        self.lengths: list[int] = []
        self._cache: list[Encoded | None] = []
        self.stats = DataStats(records=len(records))
        max_length = encoder.max_length
        budget = _CACHE_BYTES
        for index, conv in enumerate(records):
            try:
                item = encoder.encode_conversation(conv)
            except UnmaskError as exc:
                raise UnmaskError(f"{where(source, index, conv.id)}: {exc}") from None
            except ValueError as exc:
                raise UnmaskError(f"{where(source, index, conv.id)}: {exc}") from None
            n = len(item)
            if max_length is not None and n > max_length:
                self.stats.dropped_too_long += 1
                shortest = self.stats.shortest_dropped
                self.stats.shortest_dropped = n if not shortest else min(shortest, n)
                continue
            self.records.append(conv)
            self.lengths.append(n)
            size = _nbytes(item)
            self._cache.append(item if size <= budget else None)
            budget -= size if size <= budget else 0
            st = self.stats
            st.kept += 1
            st.image_records += bool(conv.images)
            st.text_only_records += not conv.images
            st.refusal_records += conv.is_refusal
            st.no_eos_records += item.eot_masked > 0
            st.reference_mismatches += item.warning is not None
            st.trained_tokens += item.n_trained
            st.eot_tokens_masked += item.eot_masked
            if item.warning is not None:
                print(f"warning: {where(source, index, conv.id)}: {item.warning}", file=sys.stderr)
            st.longest = max(st.longest, n)
        if encoder.no_eos_on_refusal and self.stats.no_eos_records == 0 and self.records:
            print(
                f"warning: {source}: --no-eos-on-refusal found no refusal record (none marked "
                "metadata.refusal, none with the refusal sentence); every end-of-turn is trained",
                file=sys.stderr,
            )
        if not self.records:
            if self.stats.records == 0:
                raise UnmaskError(f"{source}: no records")
            raise UnmaskError(
                f"{source}: all {self.stats.records} records are longer than --max-length "
                f"{max_length} (shortest: {self.stats.shortest_dropped} tokens); nothing to train on"
            )

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> Encoded:
        item = self._cache[i]
        return item if item is not None else self.encoder.encode_conversation(self.records[i])


def training_data(
    data: str | Path,
    family: Any,
    processor: Any,
    *,
    data_format: str | None = None,
    image_root: str | Path | None = None,
    max_length: int | None = None,
    no_eos_on_refusal: bool = False,
) -> TrainDataset:
    """Read and encode the training records: the one path of ``unmask train`` and ``unmask encode``."""
    from ..data.formats import read_records

    records = read_records(data, fmt=data_format, image_root=image_root)
    root = image_root or (data if Path(data).is_dir() else Path(data).parent)
    encoder = Encoder(
        family, processor, image_root=root, max_length=max_length, no_eos_on_refusal=no_eos_on_refusal
    )
    return TrainDataset(records, encoder, data)


class EpochSampler:
    """A seeded shuffle that depends only on (seed, epoch): a resumed run sees the same order."""

    def __init__(self, n: int, seed: int, shuffle: bool = True) -> None:
        self.n, self.seed, self.shuffle, self.epoch = n, seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Any:
        import torch

        if not self.shuffle:
            return iter(range(self.n))
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())
