"""Names escaped for each output they are written to.

A name in a spec, a run folder or a metrics line is user input: written raw, a control
character drives the terminal, a newline or ``|`` breaks a Markdown table, a NUL or a
quote breaks a DOT file, and two names that differ only in punctuation become one
Mermaid box. One function per output, so that each writer calls the one for its
format instead of guessing which characters matter."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# control, format (bidi overrides, zero-width), surrogate, unassigned, line/paragraph
# separators: characters that change what is shown around them instead of showing
_HIDDEN = {"Cc", "Cf", "Cs", "Cn", "Zl", "Zp"}
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _visible(char: str) -> str:
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


def terminal(text: str) -> str:
    """``text`` with every character that would not be shown as itself (control
    characters, escape sequences, bidi overrides, newlines) written as a visible escape
    (``\\x1b``, ``\\n``, ``\\u202e``), as Python's ``repr`` does; a backslash stays one."""
    if all(unicodedata.category(c) not in _HIDDEN for c in text):
        return text
    return "".join(_visible(c) if unicodedata.category(c) in _HIDDEN else c for c in text)


_MARKDOWN = re.compile(r"([\\|`*_<>])")


def markdown(text: str) -> str:
    """``text`` for a Markdown table cell or list item: visible escapes for hidden
    characters (a newline would end the row) and a backslash before the characters that
    Markdown reads (``|`` ends a cell, ``*``/``_``/`` ` `` format, ``<`` opens HTML)."""
    return _MARKDOWN.sub(r"\\\1", terminal(text))


def dot(text: str) -> str:
    """``text`` as a DOT quoted string (an id or a label), quotes included. Hidden
    characters (a NUL ends the file for Graphviz) become visible escapes, and the
    backslash is doubled so that Graphviz shows it rather than reading ``\\n`` or
    ``\\N`` as a label escape."""
    return '"' + terminal(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


_MERMAID_ENTITY = set("\"#&<>|'`[](){};")


def mermaid_text(text: str) -> str:
    """``text`` inside a quoted Mermaid label (or an edge's ``|label|``): hidden
    characters as visible escapes, and every character Mermaid or HTML reads as its
    entity code (``#35;``), which Mermaid renders as the character."""
    return "".join(f"#{ord(c)};" if c in _MERMAID_ENTITY else c for c in terminal(text))


def mermaid_ids(names: Iterable[str]) -> dict[str, str]:
    """A Mermaid id for each name: its letters, digits and ``_`` (other characters as
    ``_``), unique — ``critic-1`` and ``critic_1`` are two boxes, the later one with a
    ``_2``, ``_3`` … suffix that no other name takes."""
    names = list(dict.fromkeys(names))
    base = {n: re.sub(r"[^A-Za-z0-9_]", "_", n) or "_" for n in names}
    used = set(base.values())  # a suffix never takes another name's own id
    first: set[str] = set()
    ids: dict[str, str] = {}
    for n in names:
        b = base[n]
        if b not in first:
            first.add(b)
            ids[n] = b
            continue
        k = 2
        while f"{b}_{k}" in used:
            k += 1
        ids[n] = f"{b}_{k}"
        used.add(ids[n])
    return ids
