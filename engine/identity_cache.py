"""Values derived from a shared, read-only object, kept per object (its identity).

A process version's parsed parts (its e-mail templates, its resolved form schemas) are
shared dicts that never change once built: what is derived from one — a Jinja2
environment, a compiled validator — is made once per object and kept while the object is.
Keyed by ``id()`` with the object itself kept beside the value, so an id reused by a new
object after the old one was freed never returns the old value. Bounded: past ``size``
entries it starts over (the objects it keeps alive go with it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class IdentityCache(Generic[V]):
    def __init__(self, size: int) -> None:
        self._size = size
        self._items: dict[int, tuple[object, V]] = {}

    def get(self, key: object, make: Callable[[], V]) -> V:
        """The value made for ``key`` (this very object), made now if there is none."""
        found = self._items.get(id(key))
        if found is not None and found[0] is key:
            return found[1]
        value = make()
        if len(self._items) >= self._size:
            self._items.clear()
        self._items[id(key)] = (key, value)
        return value
