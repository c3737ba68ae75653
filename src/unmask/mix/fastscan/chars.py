"""Byte classes and token grammar shared by the ``jsonscan`` modules."""

from __future__ import annotations

import numpy as np

__all__ = ["CLS", "DELTA", "FOLLOW", "AROUND_STRING", "NAMES", "WS"]

QUOTE, BACKSLASH = 0x22, 0x5C
# token classes of the bytes outside strings (NONE: whitespace, or no token at all)
NONE, LBRACE, RBRACE, LBRACK, RBRACK, COMMA, COLON, SCALAR, JUNK, START = range(10)
CLS = np.full(256, JUNK, dtype=np.uint8)
CLS[list(b" \t\n\r")] = NONE
for _ch, _c in zip(b"{}[],:", (LBRACE, RBRACE, LBRACK, RBRACK, COMMA, COLON), strict=True):
    CLS[_ch] = _c
CLS[list(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.+-")] = SCALAR
WS = CLS == NONE
DELTA = np.zeros(10, dtype=np.int8)  # depth change of each class
DELTA[[LBRACE, LBRACK]], DELTA[[RBRACE, RBRACK]] = 1, -1


def _table(pairs: dict[int, tuple[int, ...]]) -> np.ndarray:
    t = np.zeros((10, 10), dtype=bool)
    for a, bs in pairs.items():
        t[a, list(bs)] = True
    return t


VALUE = (LBRACE, LBRACK, SCALAR)
AFTER_VALUE = (COMMA, RBRACE, RBRACK)
# which token may follow which with no string between them (START: just after the top-level '[')
FOLLOW = _table({LBRACE: (RBRACE,), LBRACK: (*VALUE, RBRACK), COMMA: VALUE, COLON: VALUE, RBRACE: AFTER_VALUE,
                 RBRACK: AFTER_VALUE, SCALAR: AFTER_VALUE, START: (*VALUE, RBRACK)})
# a string between tokens [before, after]: a key ('{' or ',' then ':') or a value; NONE after = unknown
AROUND_STRING = _table({LBRACE: (COLON, NONE), COMMA: (COLON, *AFTER_VALUE, NONE), COLON: (*AFTER_VALUE, NONE),
                        LBRACK: (*AFTER_VALUE, NONE), START: (*AFTER_VALUE, NONE)})
NAMES = {NONE: "nothing", LBRACE: "'{'", RBRACE: "'}'", LBRACK: "'['", RBRACK: "']'", COMMA: "','",
         COLON: "':'", SCALAR: "a number or literal", JUNK: "a stray byte", START: "the '['"}
