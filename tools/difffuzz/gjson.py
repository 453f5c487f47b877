"""A JSON syntax tree that keeps every literal's exact text.

Mutations need to keep what they do not touch byte-identical (number
literals such as 114693662310400001, string escapes, member order and
repeated members), so the tree stores raw text rather than Python values.

Node shapes:
    ("o", [(raw_key, node), ...])   object; raw_key includes the quotes
    ("a", [node, ...])              array
    ("s", raw)                      string literal, quotes included
    ("n", raw)                      number literal
    ("l", "true" | "false" | "null")
"""

from __future__ import annotations

import json
import re

_WS = b" \t\r\n"
_NUM = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_STR = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)


class ParseError(ValueError):
    pass


def parse(data: bytes):
    """Parse one JSON value (surrounding whitespace allowed)."""
    node, pos = _value(data, _skip(data, 0))
    if _skip(data, pos) != len(data):
        raise ParseError("trailing data")
    return node


def _skip(d: bytes, i: int) -> int:
    while i < len(d) and d[i] in _WS:
        i += 1
    return i


def _value(d: bytes, i: int, depth: int = 0):
    if depth > 2000:
        raise ParseError("too deep")
    if i >= len(d):
        raise ParseError("eof")
    c = d[i : i + 1]
    if c == b"{":
        members = []
        i = _skip(d, i + 1)
        if d[i : i + 1] == b"}":
            return ("o", members), i + 1
        while True:
            m = _STR.match(d, i)
            if not m:
                raise ParseError(f"key expected at {i}")
            key = m.group().decode("utf-8", "surrogateescape")
            i = _skip(d, m.end())
            if d[i : i + 1] != b":":
                raise ParseError(f"colon expected at {i}")
            val, i = _value(d, _skip(d, i + 1), depth + 1)
            members.append((key, val))
            i = _skip(d, i)
            if d[i : i + 1] == b",":
                i = _skip(d, i + 1)
                continue
            if d[i : i + 1] == b"}":
                return ("o", members), i + 1
            raise ParseError(f"comma or brace expected at {i}")
    if c == b"[":
        items = []
        i = _skip(d, i + 1)
        if d[i : i + 1] == b"]":
            return ("a", items), i + 1
        while True:
            val, i = _value(d, i, depth + 1)
            items.append(val)
            i = _skip(d, i)
            if d[i : i + 1] == b",":
                i = _skip(d, i + 1)
                continue
            if d[i : i + 1] == b"]":
                return ("a", items), i + 1
            raise ParseError(f"comma or bracket expected at {i}")
    if c == b'"':
        m = _STR.match(d, i)
        if not m:
            raise ParseError("bad string")
        return ("s", m.group().decode("utf-8", "surrogateescape")), m.end()
    for lit in ("true", "false", "null"):
        if d.startswith(lit.encode(), i):
            return ("l", lit), i + len(lit)
    m = _NUM.match(d, i)
    if m and m.end() > i:
        return ("n", m.group().decode()), m.end()
    raise ParseError(f"unexpected byte at {i}")


class Style:
    """Whitespace choices for dump()."""

    def __init__(self, indent=None, colon=":", comma=",", newline="\n", pad=""):
        self.indent = indent  # None = compact
        self.colon = colon
        self.comma = comma
        self.newline = newline
        self.pad = pad  # inside brackets when compact

    @staticmethod
    def compact():
        return Style()

    @staticmethod
    def go_indent():
        return Style(indent="  ", colon=": ")


def dump(node, style: Style | None = None, level: int = 0) -> str:
    st = style or Style.compact()
    kind = node[0]
    if kind in ("s", "n", "l"):
        return node[1]
    if kind == "o":
        items = [k + st.colon + dump(v, st, level + 1) for k, v in node[1]]
        open_, close = "{", "}"
    else:
        items = [dump(v, st, level + 1) for v in node[1]]
        open_, close = "[", "]"
    if not items:
        return open_ + close
    if st.indent is None:
        return open_ + st.pad + st.comma.join(items) + st.pad + close
    inner = st.newline + st.indent * (level + 1)
    return (
        open_
        + inner
        + (st.comma + inner).join(items)
        + st.newline
        + st.indent * level
        + close
    )


def to_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def key_text(raw_key: str) -> str:
    try:
        return json.loads(raw_key)
    except ValueError:
        return raw_key.strip('"')


def string(value: str) -> tuple:
    return ("s", json.dumps(value, ensure_ascii=False))


def number(raw) -> tuple:
    return ("n", str(raw))


def paths(node, prefix=()):
    """Every (path, node) in the tree; a path step is an index into the
    member or item list."""
    yield prefix, node
    if node[0] == "o":
        for i, (_, v) in enumerate(node[1]):
            yield from paths(v, prefix + (i,))
    elif node[0] == "a":
        for i, v in enumerate(node[1]):
            yield from paths(v, prefix + (i,))


def get(node, path):
    for step in path:
        node = node[1][step][1] if node[0] == "o" else node[1][step]
    return node


def replace(node, path, new):
    """A copy of node with the node at path replaced by new."""
    if not path:
        return new
    step, rest = path[0], path[1:]
    kids = list(node[1])
    if node[0] == "o":
        k, v = kids[step]
        kids[step] = (k, replace(v, rest, new))
    else:
        kids[step] = replace(kids[step], rest, new)
    return (node[0], kids)


def describe(node, path) -> str:
    """A readable field path: members by key, items by index."""
    out = []
    for step in path:
        if node[0] == "o":
            k, node = node[1][step]
            out.append(key_text(k))
        else:
            out.append(f"[{step}]")
            node = node[1][step]
    return ".".join(out) or "<root>"
