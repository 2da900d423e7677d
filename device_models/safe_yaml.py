"""Bounded, strict YAML loading for cards and studies.

``yaml.safe_load`` is safe against code execution but not against size: a few hundred
bytes of nested aliases (a "billion laughs" file) describe a structure of billions of
nodes, and any code that walks or prints it (a line map, ``str()`` of a value, a dump into
a result file) expands every alias. :func:`load` composes the node graph once, counts the
nodes the document would have with every alias expanded (memoised per shared node, so the
count itself never expands anything), refuses the document above :data:`MAX_NODES`, and
refuses duplicate mapping keys (the last one would silently win).
"""
from __future__ import annotations

import yaml

__all__ = ["MAX_NODES", "YamlLimitError", "UniqueKeyLoader", "load", "expanded_size"]

#: Most nodes a card or study may have once every alias is expanded [count]. A shipped
#: card has about 600, a study rarely more than a few thousand; an alias bomb has billions.
MAX_NODES = 200_000


class YamlLimitError(yaml.constructor.ConstructorError):
    """The document expands to more than :data:`MAX_NODES` nodes (an alias bomb)."""


class UniqueKeyLoader(yaml.SafeLoader):
    """Safe loader that refuses duplicate mapping keys."""


def _construct_mapping(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            continue
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {seen[key]})",
                key_node.start_mark)
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                _construct_mapping)


def expanded_size(root, limit: int = MAX_NODES) -> int:
    """Nodes of the composed graph ``root`` with every alias expanded, counted without
    expanding (each shared node is counted once and its size reused); stops early at
    ``limit + 1``."""
    memo: dict[int, int] = {}
    # iterative post-order walk (deep nesting must not hit the recursion limit)
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        nid = id(node)
        if nid in memo:
            continue
        if isinstance(node, yaml.MappingNode):
            kids = [n for kv in node.value for n in kv]
        elif isinstance(node, yaml.SequenceNode):
            kids = list(node.value)
        else:
            memo[nid] = 1
            continue
        if done:
            total = 1
            for k in kids:
                total += memo.get(id(k), 0)
                if total > limit:
                    return limit + 1
            memo[nid] = total
            continue
        stack.append((node, True))
        for k in kids:
            if id(k) not in memo:
                stack.append((k, False))
    return memo.get(id(root), 0)


def load(text: str, max_nodes: int = MAX_NODES):
    """``(data, root_node)`` of a YAML text: safe tags only, unique keys, at most
    ``max_nodes`` nodes with aliases expanded. Raises :class:`yaml.YAMLError` (with a mark
    where known); :class:`YamlLimitError` for too many nodes."""
    loader = UniqueKeyLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        n = expanded_size(root, max_nodes)
        if n > max_nodes:
            raise YamlLimitError(
                None, None, f"the document expands to more than {max_nodes} YAML nodes once "
                "its aliases (*name) are expanded (an alias bomb?); expected a plain card or "
                "study", root.start_mark)
        return loader.construct_document(root), root
    finally:
        loader.dispose()
