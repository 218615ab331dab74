"""Message trees in memory: ordering, the active branch, validation of client-sent trees.

Messages reference their parent by id within a chat. A chat's messages are always loaded
whole (one query) and walked here, so no query depends on the depth of a tree.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar

from chats.errors import InvalidHistory


class Node(Protocol):
    @property
    def message_id(self) -> str: ...

    @property
    def parent_message_id(self) -> str: ...


N = TypeVar("N", bound=Node)


def active_branch(nodes_by_id: dict[str, N], leaf_id: str) -> list[N]:
    """The path from the root to ``leaf_id``, root first (empty when there is no leaf)."""
    branch: list[N] = []
    current = nodes_by_id.get(leaf_id)
    while current is not None and len(branch) <= len(nodes_by_id):
        branch.append(current)
        current = nodes_by_id.get(current.parent_message_id)
    branch.reverse()
    return branch


def children_of(nodes: Iterable[N]) -> dict[str, list[str]]:
    """Children ids by parent id, in the order the nodes are given (their seq order)."""
    children: dict[str, list[str]] = defaultdict(list)
    for node in nodes:
        children[node.parent_message_id].append(node.message_id)
    return children


def topological(nodes: Sequence[N], *, known_ids: Iterable[str] = ()) -> list[N]:
    """Order ``nodes`` parents first, checking that they form a forest.

    A parent must be one of ``nodes`` or of ``known_ids`` (messages already stored in the same
    chat). Duplicate ids, unknown parents and cycles raise InvalidHistory.
    """
    by_id: dict[str, N] = {}
    for node in nodes:
        if node.message_id in by_id:
            raise InvalidHistory(f"Message id {node.message_id!r} appears twice.")
        by_id[node.message_id] = node
    known = set(known_ids)
    duplicates = known & by_id.keys()
    if duplicates:
        raise InvalidHistory(f"Message id {sorted(duplicates)[0]!r} already exists in this chat.")
    # Emit each node as soon as its parent has been: input that is already parents-first
    # (every export is) keeps its order exactly; a child listed before its parent waits for it.
    waiting: dict[str, list[N]] = defaultdict(list)
    emitted = set(known)
    ordered: list[N] = []
    for node in nodes:
        parent = node.parent_message_id
        if parent and parent not in by_id and parent not in known:
            raise InvalidHistory(
                f"Message {node.message_id!r} has a parent {parent!r} that is not in this chat."
            )
        if parent and parent not in emitted:
            waiting[parent].append(node)
            continue
        stack = [node]
        while stack:
            ready = stack.pop()
            ordered.append(ready)
            emitted.add(ready.message_id)
            stack.extend(reversed(waiting.pop(ready.message_id, [])))
    if len(ordered) != len(nodes):
        raise InvalidHistory("The messages' parent links form a cycle.")
    return ordered
