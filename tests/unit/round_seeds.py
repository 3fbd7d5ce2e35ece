"""The seeds a run drawn in rounds gives its samples: what live == replay tests rebuild a
pool from, written independently of the draw code they check."""

from __future__ import annotations

from langgraph_ttc.nodes.context import seed_of


def round_seeds(run_seed: int, n: int, first: int, step: int) -> list[int]:
    """The seed of every index of a run drawn in rounds (``first``, then ``step`` at a time):
    each round's first sample has ``seed_of(run_seed, its index)``, the next ones count up."""
    seeds, start = [], 0
    while start < n:
        size = min(first if start == 0 else step, n - start)
        seeds += [seed_of(run_seed, start) + i for i in range(size)]
        start += size
    return seeds
