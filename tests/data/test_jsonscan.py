"""The JSON-array scanner: spans of every record without parsing, and one-line errors for bad input."""

from __future__ import annotations

import io
import json
import random
import re

import numpy as np
import orjson
import pytest

from unmask.errors import UnmaskError
from unmask.mix.fastscan.scan import scan_json_array, scan_llava


def _write(tmp_path, data, name="data.json"):
    p = tmp_path / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return p


def _rec(i, *, roles=("human", "gpt"), text="hi", **extra):
    conv = [{"from": r, "value": f"{text} {i} {r}"} for r in roles]
    n = sum(t["value"].count("<image>") for t in conv)  # a valid row: one image per marker
    image = f"img/{i}.jpg" if n <= 1 else [f"img/{i}_{k}.jpg" for k in range(n)]
    return {"id": f"r{i}", "image": image, "conversations": conv, **extra}


def _check_spans(path, rows, window=4 << 20, llava=False):
    """Every span parses to its row, and only whitespace and one comma lie between spans."""
    data = path.read_bytes()
    with scan_json_array(path, llava=llava, window=window) as res:
        assert len(res) == len(rows)
        for i, row in enumerate(rows):
            assert orjson.loads(res.element(i)) == row
            a, b = res.spans[i]
            assert data[a:a + 1] == b"{" and data[b - 1:b] == b"}"
        for i in range(len(rows) - 1):
            assert data[res.spans[i, 1]:res.spans[i + 1, 0]].strip() == b","
        return res.spans.copy(), (None if res.assistant_turns is None else res.assistant_turns.copy())


def _err(path, **kw) -> str:
    with pytest.raises(UnmaskError) as exc:
        scan_json_array(path, **kw)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(str(path))
    return msg


# ------------------------------------------------------------------------------------------- spans
TRICKY = [
    'say "hi"', "ends with a backslash \\", "two \\\\ backslashes", 'escaped \\" quote',
    "braces { [ } ] inside", '"}]}, {"id": "x"', "unicode é ü 中文 🙂", "tab\tnew\nline", "", "\\\\\\",
    '\\"', "a\\\\\"b", "<image>\nWhat is this?", "\u2028\u2029", "{\"from\": \"bot\"}",
]


@pytest.mark.parametrize("fmt", [
    {}, {"indent": 2}, {"indent": 4}, {"separators": (",", ":")}, {"ensure_ascii": False},
    {"indent": "\t", "ensure_ascii": False},
])
def test_spans_on_tricky_strings_and_layouts(tmp_path, fmt):
    rows = [_rec(i, text=t, meta={"nested": [[1, 2.5e-3, {"k": [True, False, None]}], [], {}], "s": t})
            for i, t in enumerate(TRICKY)]
    path = _write(tmp_path, json.dumps(rows, **fmt))
    for window in (4 << 20, 64, 7):  # tiny windows: records cross windows, windows grow
        _, turns = _check_spans(path, rows, window=window, llava=True)
        assert turns.tolist() == [1] * len(rows)


def test_whitespace_bom_and_empty_arrays(tmp_path):
    rows = [_rec(0), _rec(1)]
    body = "\n  [\n\n" + json.dumps(rows[0]) + "\r\n ,\t" + json.dumps(rows[1]) + "  \n]\n\n"
    _check_spans(_write(tmp_path, body), rows)
    _check_spans(_write(tmp_path, b"\xef\xbb\xbf" + body.encode(), "bom.json"), rows)
    for empty in ("[]", " [ \n ] \n"):
        with scan_json_array(_write(tmp_path, empty, "e.json"), llava=True) as res:
            assert len(res) == 0 and res.spans.shape == (0, 2)


def test_backslash_runs_before_quotes(tmp_path):
    # n backslashes then a quote: even n -> the quote is real, odd n -> escaped
    rows = [{"id": str(n), "s": "\\" * n, "t": "x" + "\\" * n + '"' + "y"} for n in range(12)]
    path = _write(tmp_path, json.dumps(rows))
    _check_spans(path, rows, window=32)


def _rand_str(rng):
    alphabet = ['"', "\\", "{", "}", "[", "]", ",", ":", " ", "\n", "a", "é", "中", "\\\\", "/", "\x01", "x"]
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))


def _rand_value(rng, depth):
    kind = rng.randint(0, 8 if depth < 3 else 4)
    if kind <= 2:
        return _rand_str(rng)
    if kind == 3:
        return rng.choice([0, -12, 3.5, 1e300, True, False, None])
    if kind == 4:
        return rng.choice([[], {}])
    if kind <= 6:
        return [_rand_value(rng, depth + 1) for _ in range(rng.randint(1, 4))]
    return {_rand_str(rng): _rand_value(rng, depth + 1) for _ in range(rng.randint(1, 4))}


def test_spans_match_orjson_on_random_documents(tmp_path):
    rng = random.Random(1234)
    for trial in range(60):
        rows = []
        for _ in range(rng.randint(0, 25)):
            row = {_rand_str(rng): _rand_value(rng, 1) for _ in range(rng.randint(0, 4))}
            if rng.random() < 0.7:  # a valid LLaVA record now and then
                row["conversations"] = [{"from": rng.choice(["human", "system"]), "value": _rand_str(rng)},
                                        {"from": "gpt", "value": _rand_str(rng)}]
            rows.append(row)
        fmt = rng.choice([{}, {"indent": 1}, {"indent": 3}, {"separators": (",", ":")},
                          {"separators": (" , ", " : ")}])
        text = json.dumps(rows, ensure_ascii=rng.random() < 0.5, **fmt)
        path = _write(tmp_path, text, f"r{trial}.json")
        _check_spans(path, rows, window=rng.choice([16, 100, 1000, 1 << 20]))


def test_llava_counts_and_lookalikes(tmp_path):
    rows = [
        _rec(0, roles=("system", "human", "gpt", "human", "gpt")),
        # "from" as a value, in metadata, and as a key outside the conversation: none is a role
        {"id": "x", "conversations": [{"from": "human", "value": "from"}, {"from": "gpt", "value": "ok"}],
         "metadata": {"from": "web", "turns": [{"from": "bot"}]}, "tags": [{"from": "robot"}]},
        # roles written with escapes are still roles
        {"id": "esc", "conversations": [{"fr\\u006fm": "hum\\u0061n", "value": "q"},
                                        {"from": "gp\\u0074", "value": "a"}]},
        {"id": 7, "conversations": [{"value": "q", "from": "human", "extra": 1}, {"from": "gpt", "value": "a"}]},
    ]
    text = json.dumps(rows[:2])[:-1] + ", " + json.dumps(rows[2]).replace("\\\\u", "\\u") + ", " \
        + json.dumps(rows[3]) + "]"
    path = _write(tmp_path, text)
    with scan_llava(path, window=64) as res:
        assert res.assistant_turns.tolist() == [2, 1, 1, 1]
        assert res.record_id(2) == "esc" and res.record_id(3) == 7


def test_element_view_and_write_range(tmp_path):
    rows = [_rec(i) for i in range(50)]
    path = _write(tmp_path, json.dumps(rows))
    data = path.read_bytes()
    with scan_json_array(path) as res:
        assert res.size == len(data)
        assert bytes(res.view(*res.spans[3])) == res.element(3) == data[res.spans[3, 0]:res.spans[3, 1]]
        out = io.BytesIO()
        res.write_range(out, 0, res.size, block=4096)
        assert out.getvalue() == data
        assert res.record_id(5) == "r5"
        # a real file (copied inside the kernel where it can): buffered writes around it stay in order
        (a0, _), (_, b9) = res.spans[0], res.spans[9]
        with open(tmp_path / "out.json", "wb") as fh:
            fh.write(b"[")
            res.write_range(fh, a0, b9)
            fh.write(b", ")
            res.write_range(fh, *res.spans[20])
            fh.write(b"]")
        assert orjson.loads((tmp_path / "out.json").read_bytes()) == rows[:10] + [rows[20]]


# ------------------------------------------------------------------------------------------ errors
def _llava_file(tmp_path, n=6, name="data.json", **fmt):
    rows = [_rec(i) for i in range(n)]
    return rows, json.dumps(rows, **fmt)


@pytest.mark.parametrize("window", [4 << 20, 50])
def test_truncated_file_names_the_record(tmp_path, window):
    rows, text = _llava_file(tmp_path)
    cut = text.index('"r3"') + 30  # inside record 3
    msg = _err(_write(tmp_path, text[:cut]), window=window)
    assert "record 3 (id 'r3')" in msg and "truncated" in msg
    msg = _err(_write(tmp_path, text[: text.index('"value"', text.index('"r4"')) + 12], "s.json"), window=window)
    assert "record 4 (id 'r4')" in msg and "truncated" in msg  # ends inside a string
    msg = _err(_write(tmp_path, text[:-1], "b.json"), window=window)
    assert "truncated" in msg and "']'" in msg


def test_unbalanced_and_unterminated(tmp_path):
    rows, text = _llava_file(tmp_path)
    r2 = text.index('"r2"')
    # a '}' where ']' belongs, in record 2
    bad = text[:r2] + text[r2:].replace('"}]', '"}}', 1)
    assert "record 2 (id 'r2')" in _err(_write(tmp_path, bad, "a.json"))
    # a missing closing quote in record 2
    v = text.index('"value": "', r2) + 12
    bad = text[:v] + text[v:].replace('"', "", 1)
    msg = _err(_write(tmp_path, bad, "b.json"))
    assert "record 2 (id 'r2')" in msg and "invalid JSON" in msg
    # record 2 misses its closing '}': caught where record 3 begins, not at the end of the file
    end2 = text.index(', {"id": "r3"')
    msg = _err(_write(tmp_path, text[:end2 - 1] + text[end2:], "c.json"), window=64)
    assert "record 2 (id 'r2')" in msg and "missing" in msg
    # an extra '}' after record 1
    end1 = text.index(', {"id": "r2"')
    msg = _err(_write(tmp_path, text[:end1] + "}" + text[end1:], "d.json"))
    assert "does not match" in msg and "byte" in msg


@pytest.mark.parametrize("bad, where_", [
    ('[{"a": 1} {"b": 2}]', "missing"),
    ('[{"a": 1},, {"b": 2}]', "','"),
    ('[{"a": 1}, {"b": 2},]', "trailing"),
    ('[{"a": 1 "b": 2}]', "record 0"),
    ('[{"a": "x" "b": 2}]', "record 0"),
    ('[{"a": tru}]', "record 0"),
    ('[{"a"}]', "record 0"),
    ('[{"a": }]', "record 0"),
    ('[{"a": [1, 2}]', "record 0"),
    ('[{"a": 1}, 5]', "record 1: a record must be an object"),
    ('[{"a": 1}, "s"]', "record 1: a record must be an object"),
    ('[[1], {"a": 1}]', "record 0: a record must be an object"),
    ('[{"a": "x\x01y"}]', "control byte 0x01"),
    ('[{"a": 1} x]', "invalid JSON"),
])
def test_syntax_errors(tmp_path, bad, where_):
    msg = _err(_write(tmp_path, bad))
    assert where_ in msg


def test_not_an_array_empty_and_junk_after(tmp_path):
    assert "not a JSON array" in _err(_write(tmp_path, '{"id": 1}\n{"id": 2}\n', "a.json"))
    assert "empty file" in _err(_write(tmp_path, "", "b.json"))
    assert "empty file" in _err(_write(tmp_path, "  \n", "c.json"))
    msg = _err(_write(tmp_path, '[{"a": 1}]\n\nxyz', "d.json"))
    assert "junk after the JSON array" in msg and "line 3" in msg and "byte 12" in msg
    assert "no such file" in _err(tmp_path / "missing.json")
    assert "a folder" in _err(tmp_path)


def test_non_utf8_names_the_record(tmp_path):
    rows, text = _llava_file(tmp_path)
    raw = text.encode()
    at = raw.index(b"hi 4")
    msg = _err(_write(tmp_path, raw[:at] + b"\xff\xfe" + raw[at:]), window=64)
    assert "record 4 (id 'r4')" in msg and "UTF-8" in msg
    # a multi-byte character cut in half at the end of a string
    at = raw.index(b'gpt"', raw.index(b"r1"))
    msg = _err(_write(tmp_path, raw[:at] + b"\xe4\xb8" + raw[at:], "b.json"))
    assert "record 1 (id 'r1')" in msg and "UTF-8" in msg


@pytest.mark.parametrize("turns, reason", [
    ([{"from": "human", "value": "q"}, {"from": "bot", "value": "a"}], "turn 1: unknown role 'bot'"),
    ([{"from": "human", "value": "q"}, {"from": 3, "value": "a"}], "turn 1: unknown role 3"),
    ([{"from": "human", "value": "q"}], "no assistant reply"),
    ([{"from": "human", "value": "q"}, {"from": "gpt"}], "turn 1 needs 'from' and 'value'"),
    ([{"value": "q"}, {"from": "gpt", "value": "a"}], "turn 0 needs 'from' and 'value'"),
    ([{"from": "human", "value": "q"}, {"from": "gpt", "value": ["a"]}], "turn 1: 'value' must be a string"),
    (["hello", {"from": "gpt", "value": "a"}], "turn 0 needs 'from' and 'value'"),
    ([], "no 'conversations' list"),
    (None, "no 'conversations' list"),
])
@pytest.mark.parametrize("indent", [None, 2])
def test_llava_errors_name_record_and_reason(tmp_path, turns, reason, indent):
    rows = [_rec(i) for i in range(5)]
    rows[3] = {"id": "bad", "conversations": turns} if turns is not None else {"id": "bad", "image": "x.jpg"}
    path = _write(tmp_path, json.dumps(rows, indent=indent))
    msg = _err(path, llava=True, window=80)
    assert re.search(r": record 3 \(id 'bad'\): ", msg) and reason in msg
    _check_spans(path, rows)  # without the LLaVA checks the same file scans fine


def test_scans_a_sizeable_file_in_small_windows(tmp_path):
    rng = random.Random(0)
    rows = [_rec(i, roles=rng.choice([("human", "gpt"), ("human", "gpt", "human", "gpt")]),
                 text=rng.choice(TRICKY)) for i in range(3000)]
    path = _write(tmp_path, json.dumps(rows))
    spans, turns = _check_spans(path, rows, window=1 << 12, llava=True)
    assert turns.sum() == sum(len(r["conversations"]) // 2 for r in rows)
    assert np.all(spans[1:, 0] > spans[:-1, 1])
