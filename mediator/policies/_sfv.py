"""A small parser for RFC 8941 Structured Field lists and dictionaries (what RateLimit uses).

Only what the rate-limit fields need: bare items (integer, decimal, string, token, byte
sequence, boolean) with parameters, no inner lists. Anything else raises `ValueError`, which the
caller turns into a logged warning.
"""

from __future__ import annotations

import string

BareItem = int | float | str | bytes | bool
Params = dict[str, BareItem]
Member = tuple[BareItem, Params]

_KEY_START = string.ascii_lowercase + "*"
_KEY_CHARS = string.ascii_lowercase + string.digits + "_-.*"
_TOKEN_START = string.ascii_letters + "*"
_TOKEN_CHARS = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~:/"


class _Cursor:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self) -> str:
        char = self.peek()
        self.pos += 1
        return char

    def skip_spaces(self) -> None:
        while self.peek() in (" ", "\t") and self.peek():
            self.pos += 1

    def done(self) -> bool:
        return self.pos >= len(self.text)


def parse_list(text: str) -> list[Member]:
    """Parse an sf-list of items with parameters."""
    cur = _Cursor(text.strip())
    members: list[Member] = []
    while not cur.done():
        members.append((_bare_item(cur), _params(cur)))
        if not _next_member(cur):
            break
    return members


def parse_dict(text: str) -> dict[str, Member]:
    """Parse an sf-dictionary; a key without a value is boolean true."""
    cur = _Cursor(text.strip())
    members: dict[str, Member] = {}
    while not cur.done():
        key = _key(cur)
        if cur.peek() == "=":
            cur.take()
            item: BareItem = _bare_item(cur)
        else:
            item = True
        members[key] = (item, _params(cur))
        if not _next_member(cur):
            break
    return members


def _next_member(cur: _Cursor) -> bool:
    cur.skip_spaces()
    if cur.done():
        return False
    if cur.take() != ",":
        raise ValueError(f"expected ',' at {cur.pos - 1}")
    cur.skip_spaces()
    if cur.done():
        raise ValueError("trailing comma")
    return True


def _params(cur: _Cursor) -> Params:
    params: Params = {}
    while cur.peek() == ";":
        cur.take()
        cur.skip_spaces()
        key = _key(cur)
        if cur.peek() == "=":
            cur.take()
            params[key] = _bare_item(cur)
        else:
            params[key] = True
    return params


def _key(cur: _Cursor) -> str:
    if cur.peek() == "" or cur.peek() not in _KEY_START:
        raise ValueError(f"expected a key at {cur.pos}")
    start = cur.pos
    while cur.peek() and cur.peek() in _KEY_CHARS:
        cur.pos += 1
    return cur.text[start : cur.pos]


def _bare_item(cur: _Cursor) -> BareItem:
    char = cur.peek()
    if char == "-" or char.isdigit():
        return _number(cur)
    if char == '"':
        return _string(cur)
    if char == ":":
        cur.take()
        end = cur.text.find(":", cur.pos)
        if end < 0:
            raise ValueError("unterminated byte sequence")
        raw = cur.text[cur.pos : end]
        cur.pos = end + 1
        return raw.encode("ascii")  # the base64 text: callers only compare partition keys
    if char == "?":
        cur.take()
        flag = cur.take()
        if flag not in ("0", "1"):
            raise ValueError("invalid boolean")
        return flag == "1"
    if char and char in _TOKEN_START:
        start = cur.pos
        while cur.peek() and cur.peek() in _TOKEN_CHARS:
            cur.pos += 1
        return cur.text[start : cur.pos]
    raise ValueError(f"unexpected {char!r} at {cur.pos}")


def _number(cur: _Cursor) -> int | float:
    start = cur.pos
    if cur.peek() == "-":
        cur.pos += 1
    while cur.peek().isdigit() or cur.peek() == ".":
        cur.pos += 1
    text = cur.text[start : cur.pos]
    if text in ("", "-") or text.count(".") > 1 or text.endswith("."):
        raise ValueError(f"invalid number {text!r}")
    return float(text) if "." in text else int(text)


def _string(cur: _Cursor) -> str:
    cur.take()
    out: list[str] = []
    while True:
        char = cur.take()
        if char == "":
            raise ValueError("unterminated string")
        if char == "\\":
            escaped = cur.take()
            if escaped not in ('"', "\\"):
                raise ValueError("invalid escape in string")
            out.append(escaped)
        elif char == '"':
            return "".join(out)
        else:
            out.append(char)
