"""The one interleaving order everything here measures in: A B C, C B A, A B C, …

Each pass visits every arm (a thread configuration, a tree, a workload), odd passes in reverse, so drift of a
shared machine (a neighbour's burst, a slower stretch of the VM) spreads over all arms instead of biasing one.

>>> list(alternating(["A", "B"], 3))
[(0, 'A'), (0, 'B'), (1, 'B'), (1, 'A'), (2, 'A'), (2, 'B')]
"""

from __future__ import annotations

from typing import Iterator, Sequence, TypeVar

T = TypeVar("T")


def in_pass_order(arms: Sequence[T], index: int) -> Sequence[T]:
    """`arms` as pass `index` visits them: forwards on even passes, backwards on odd ones."""
    return arms if index % 2 == 0 else arms[::-1]


def alternating(arms: Sequence[T], passes: int) -> Iterator[tuple[int, T]]:
    """``(pass index, arm)`` for `passes` passes over `arms`, every odd pass reversed."""
    for index in range(passes):
        for arm in in_pass_order(arms, index):
            yield index, arm
