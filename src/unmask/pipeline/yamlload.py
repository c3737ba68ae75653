"""Read experiment YAML defensively: one-line errors naming the file, and bounded documents.

``yaml.safe_load`` is safe from code execution, not from size: a few hundred bytes of nested anchors
(``a: &a [x, x, ...]``, ``b: &b [*a, *a, ...]``, ...) stand for billions of nodes once anything walks
the document expanded (validation, hashing). Here the composed node graph is measured *as if
expanded* (memoised per node, so the measuring itself is cheap) and refused past a limit, as is
nesting deeper than any experiment needs, before a single Python object is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import UnmaskError

__all__ = ["MAX_DEPTH", "MAX_NODES", "load_yaml_file", "load_yaml_text"]

MAX_NODES = 100_000  # nodes of the expanded document (an experiment has a few hundred)
MAX_DEPTH = 50       # nesting levels (an experiment has about 5)


def _expanded_size(node: yaml.Node, where: str) -> int:
    """Nodes of the document under ``node`` with every alias expanded; raises past the limits."""
    sizes: dict[int, int] = {}
    # iterative post-order walk: (node, depth, children done?)
    stack: list[tuple[yaml.Node, int, bool]] = [(node, 1, False)]
    while stack:
        cur, depth, ready = stack.pop()
        if id(cur) in sizes:
            continue
        if depth > MAX_DEPTH:
            raise UnmaskError(f"{where}: nested deeper than {MAX_DEPTH} levels; not an experiment")
        if isinstance(cur, yaml.ScalarNode):
            sizes[id(cur)] = 1
            continue
        if isinstance(cur, yaml.MappingNode):
            children = [n for pair in cur.value for n in pair]
        else:
            children = list(cur.value)
        if ready:
            total = 1 + sum(sizes[id(c)] for c in children)
            if total > MAX_NODES:
                raise UnmaskError(f"{where}: expands to more than {MAX_NODES} values (YAML anchors and "
                                  f"aliases used as a bomb?); not an experiment")
            sizes[id(cur)] = total
            continue
        stack.append((cur, depth, True))
        stack.extend((c, depth + 1, False) for c in children if id(c) not in sizes)
    return sizes[id(node)]


def load_yaml_text(text: str, where: str) -> Any:
    """Parse one YAML document (safe tags only), bounded in size and depth. ``where`` names it in errors."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, where)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f": line {mark.line + 1}" if mark is not None else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise UnmaskError(f"{where}{line}: invalid YAML ({problem})") from None
    except RecursionError:
        raise UnmaskError(f"{where}: nested deeper than {MAX_DEPTH} levels; not an experiment") from None
    finally:
        loader.dispose()


def load_yaml_file(path: str | Path) -> Any:
    """Read and parse ``path``: a missing file, a folder, bytes that are not UTF-8 and bad YAML are one line each."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UnmaskError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UnmaskError(f"{path}: is a folder, not a YAML file") from None
    except OSError as exc:
        raise UnmaskError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UnmaskError(f"{path}: line {line}, byte {exc.start}: not valid UTF-8") from None
    return load_yaml_text(text, str(path))
