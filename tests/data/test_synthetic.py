"""``unmask://`` references: one parser and one builder (unmask.data.synthetic), used by every layer."""

import pathlib

import pytest

from unmask.data import formats, images
from unmask.data.synthetic import SCHEME, is_synthetic, parse_synthetic, synthetic_ref


def test_built_refs_parse_back():
    assert synthetic_ref("blank", 336) == "unmask://blank?size=336"
    assert synthetic_ref("noise", 64, seed=7) == "unmask://noise?seed=7&size=64"
    assert parse_synthetic(synthetic_ref("blank", 12)) == ("blank", 12, 0)
    assert parse_synthetic(synthetic_ref("noise", 64, seed=7)) == ("noise", 64, 7)
    assert is_synthetic(synthetic_ref("blank", 1)) and not is_synthetic("img/unmask.png")
    with pytest.raises(ValueError, match="unknown synthetic image"):
        synthetic_ref("stripes", 3)


def test_one_definition():
    assert images.is_synthetic is is_synthetic and formats.is_synthetic is is_synthetic
    assert images.parse_synthetic is parse_synthetic and images.SCHEME == SCHEME
    src = pathlib.Path(__file__).parents[2] / "src" / "unmask"
    for path in src.rglob("*.py"):
        if path.name == "synthetic.py":
            continue
        code = [ln.split("#")[0] for ln in path.read_text().splitlines()]
        for ln in code:  # docstrings name the syntax; code never spells the scheme out
            stripped = ln.strip()
            if "unmask://" in stripped and not stripped.startswith(("-", "``", '"""')) and "``" not in stripped:
                assert ('"unmask://' not in stripped and "'unmask://" not in stripped), f"{path}: {ln}"
