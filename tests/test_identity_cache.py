"""engine.identity_cache: one value per object, never another object's, bounded."""

from __future__ import annotations

from engine.identity_cache import IdentityCache


def test_one_value_per_object_made_once() -> None:
    cache: IdentityCache[list[int]] = IdentityCache(4)
    made: list[object] = []

    def make(key: object) -> list[int]:
        made.append(key)
        return [len(made)]

    first, equal = {"a": 1}, {"a": 1}
    value = cache.get(first, lambda: make(first))
    assert cache.get(first, lambda: make(first)) is value
    # An equal but distinct object is another key: values follow identity, not equality.
    assert cache.get(equal, lambda: make(equal)) is not value
    assert made == [first, equal]


def test_past_its_size_it_starts_over() -> None:
    cache: IdentityCache[int] = IdentityCache(2)
    keys = [object() for _ in range(3)]
    counts = {id(k): 0 for k in keys}

    def make(key: object) -> int:
        counts[id(key)] += 1
        return counts[id(key)]

    for key in keys:
        cache.get(key, lambda key=key: make(key))  # the third clears the first two
    assert cache.get(keys[2], lambda: make(keys[2])) == 1  # kept
    assert cache.get(keys[0], lambda: make(keys[0])) == 2  # made again
