"""The line-keeping YAML tree of ``llamasize check``: manifests parsed into plain dicts/lists that
remember the line of every key and item (``YMap`` / ``YList``), so a finding can point at the node
it is about.

Built from PyYAML's *safe* parser events only (libyaml's when available; no constructor ever builds
objects from tags), with an explicit stack so nothing recurses. Guards (limits in ``llamasize.files``,
the one home of reader limits): NUL bytes and non-UTF-8 are refused, nesting depth is capped as the
events arrive at ``MAX_MANIFEST_YAML_DEPTH`` (libyaml's *composer* recurses in C and crashes near
30,000 levels; its parser slows down quadratically with flow nesting), and aliases are shared
references whose expanded size is bounded by ``MAX_MANIFEST_YAML_NODES`` ("billion laughs").
"""

from __future__ import annotations

import yaml

from llamasize.files import MAX_MANIFEST_YAML_DEPTH, MAX_MANIFEST_YAML_NODES
from llamasize.text import quote_value


class YMap(dict):
    """A YAML mapping that remembers lines: ``line`` (its first key) and, per key,
    ``meta[key] = (key_line, value_line, value_style)``."""

    __slots__ = ("line", "meta")


class YList(list):
    """A YAML sequence that remembers lines: ``line`` and ``meta[i] = (item_line, item_style)``."""

    __slots__ = ("line", "meta")


class UnparseableFile(Exception):
    """The file cannot be turned into documents (message = the finding's text, ``line`` 1-based;
    ``template``: Go-template markup that is not YAML, skipped rather than an error)."""

    def __init__(self, message: str, line: int = 1, template: bool = False):
        super().__init__(message)
        self.line = max(1, line)
        self.template = template


_STR_TAG = "tag:yaml.org,2002:str"
_CONSTRUCTED_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
                     "tag:yaml.org,2002:null")
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_RESOLVER = yaml.resolver.Resolver()
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _scalar(ev):
    """int/float/bool/null as the safe loader reads them (YAML 1.1); everything else as its text."""
    tag = ev.tag if ev.tag not in (None, "!") else (
        _STR_TAG if ev.tag == "!" else _RESOLVER.resolve(yaml.ScalarNode, ev.value, ev.implicit))
    if tag not in _CONSTRUCTED_TAGS:
        return ev.value
    try:
        return _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, yaml.ScalarNode(tag, ev.value))
    except Exception:  # noqa: BLE001 - e.g. an int with 100,000 digits: keep the text
        return ev.value


class _Frame:
    """An open mapping or sequence while events stream in."""

    __slots__ = ("value", "anchor", "size", "key", "key_line", "key_ok", "merges")

    def __init__(self, value, anchor):
        self.value = value
        self.anchor = anchor
        self.size = 1
        self.key = None  # mappings: the key waiting for its value
        self.key_line = 0
        self.key_ok = False
        self.merges: list = []


def parse_documents(data: bytes, duplicates: list[tuple[int, str, int]] | None = None
                    ) -> tuple[list[object], UnparseableFile | None]:
    """Bytes -> documents (YMap/YList/scalars), plus the problem that stopped parsing (documents
    before a malformed one are still returned).

    A mapping that repeats a key keeps the last value, as ``safe_load`` does; each repeat is added
    to ``duplicates`` (when given) as ``(line of the repeated key, key, line of the key before)``,
    so the caller can report it (check's LS103). Keys merged in with ``<<`` are not repeats: a key
    written in the mapping overrides them, as YAML's merge key means.

    Built from the safe parser's *events* with an explicit stack, so nothing recurses: the nesting
    depth is checked as events arrive (libyaml slows down quadratically with flow nesting, so the
    parse is abandoned at ``MAX_MANIFEST_YAML_DEPTH``), and an alias is a reference to the anchored value,
    never a copy; the size it would expand to is added up and a document above
    ``MAX_MANIFEST_YAML_NODES`` is refused
    ("billion laughs"). Aliases to a collection that is still open (recursive) are refused too.
    """
    if b"\x00" in data:
        return [], UnparseableFile("binary file (contains NUL bytes); not checked")
    try:
        source = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        return [], UnparseableFile(f"not a UTF-8 text file (invalid byte at offset {e.start:,}); not checked")
    docs: list[object] = []
    stack: list[_Frame] = []
    anchors: dict[str, tuple[object, int | None]] = {}
    expanded = 0
    root = None

    def attach(value, size: int, line: int, style) -> None:
        nonlocal expanded, root
        expanded += size
        if expanded > MAX_MANIFEST_YAML_NODES:
            raise UnparseableFile(f"YAML aliases expand to more than {MAX_MANIFEST_YAML_NODES:,} nodes "
                                  "(an alias blow-up, 'billion laughs'); not checked", line)
        if not stack:
            root = value
            return
        f = stack[-1]
        f.size += size
        if isinstance(f.value, YList):
            f.value.append(value)
            f.value.meta.append((line, style))
        elif f.key is None and not f.key_ok:  # this value is a key
            f.key_ok = True
            f.key = value if isinstance(value, str) else (text(value) if not isinstance(value, (dict, list)) else None)
            f.key_line = line
        else:
            if f.key == "<<" and style is None:
                f.merges.append(value)
            elif f.key is not None:
                if f.key in f.value and duplicates is not None:
                    duplicates.append((f.key_line, f.key, f.value.meta[f.key][0]))
                f.value[f.key] = value  # a duplicate key: the last one wins, as in safe_load
                f.value.meta[f.key] = (f.key_line, line, style)
            f.key, f.key_ok = None, False

    try:
        for ev in yaml.parse(source, Loader=_LOADER):
            if isinstance(ev, yaml.ScalarEvent):
                line = ev.start_mark.line + 1
                value = ev.value if (stack and isinstance(stack[-1].value, YMap) and not stack[-1].key_ok) \
                    else _scalar(ev)
                if ev.anchor:
                    anchors[ev.anchor] = (value, 1)
                attach(value, 1, line, ev.style if ev.style else None)
            elif isinstance(ev, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                line = ev.start_mark.line + 1
                if len(stack) >= MAX_MANIFEST_YAML_DEPTH:
                    raise UnparseableFile(f"YAML nested more than {MAX_MANIFEST_YAML_DEPTH} levels deep; "
                                          "not checked", line)
                value = YList() if isinstance(ev, yaml.SequenceStartEvent) else YMap()
                value.line = line
                value.meta = [] if isinstance(value, YList) else {}
                if ev.anchor:
                    anchors[ev.anchor] = (value, None)  # open: an alias to it now is recursive
                stack.append(_Frame(value, ev.anchor))
            elif isinstance(ev, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                f = stack.pop()
                for m in f.merges:  # ``<<: *base`` / ``<<: [*a, *b]``: keys not set explicitly
                    for src in (m if isinstance(m, list) else [m]):
                        if isinstance(src, YMap):
                            for key, v in src.items():
                                if key not in f.value:
                                    f.value[key] = v
                                    f.value.meta[key] = src.meta[key]
                if f.anchor:
                    anchors[f.anchor] = (f.value, f.size)
                attach(f.value, f.size, f.value.line, None)
            elif isinstance(ev, yaml.AliasEvent):
                line = ev.start_mark.line + 1
                value, size = anchors.get(ev.anchor, (None, 0))
                if size is None:
                    raise UnparseableFile(f"recursive YAML alias {quote_value('*' + ev.anchor)}; not checked", line)
                if stack and isinstance(stack[-1].value, YMap) and not stack[-1].key_ok:
                    value = value if isinstance(value, str) else None  # an aliased key
                attach(value, size, line, None)
            elif isinstance(ev, yaml.DocumentStartEvent):
                anchors, root, expanded = {}, None, 0
            elif isinstance(ev, yaml.DocumentEndEvent):
                if root is not None:
                    docs.append(root)
                root = None
    except UnparseableFile as e:
        return docs, e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        if "{{" in source:
            return docs, UnparseableFile(f"Go-template markup ({{{{ ... }}}}) and not valid YAML "
                                         f"(line {line}: {problem}): skipped as a template", line, template=True)
        return docs, UnparseableFile(f"invalid YAML: {problem}", line)
    return docs, None


# --------------------------------------------------------------------------- tree helpers ---
def get(node, *path):
    """``node[path[0]][path[1]]...`` through mappings (None when any step is missing)."""
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def key_line(m, key: str, default: int) -> int:
    """Line of ``key`` in mapping ``m`` (``default`` when absent)."""
    if isinstance(m, YMap) and key in m.meta:
        return m.meta[key][0]
    return default


def line_of(node, default: int) -> int:
    """Line a mapping/sequence starts on (``default`` for scalars)."""
    return getattr(node, "line", default) or default


def text(v) -> str | None:
    """A scalar as the text a manifest means (``8`` and ``"8"`` alike); None for collections/null."""
    if v is None or isinstance(v, (dict, list)):
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)
