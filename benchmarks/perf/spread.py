"""How far apart two contenders are, and how sure that is: paired per-round comparisons.

On a shared 2-core machine a contender's wall time moves by tens of percent between rounds;
its ratio to a contender run in the same round (moments apart) moves much less. So the verdict
"at most 1.05x its_hub" is read from the per-round ratios: their median, and a bootstrap 95%
interval of that median. Pure functions of the runs; standard library only.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Sequence


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """(first quartile, median, third quartile); one value gives it three times.

    Example:
        >>> quartiles([1.0, 2.0, 3.0, 4.0, 5.0])
        (2.0, 3.0, 4.0)
    """
    ordered = sorted(values)
    if len(ordered) < 2:
        return (ordered[0],) * 3
    q1, median, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    return q1, median, q3


def bootstrap_median(values: Sequence[float], *, resamples: int = 4000, seed: int = 0) -> tuple:
    """A percentile-bootstrap 95% interval of the median (seeded: the same runs, the same
    interval).

    Example:
        >>> low, high = bootstrap_median([1.0, 1.1, 0.9, 1.05, 0.95])
        >>> 0.9 <= low <= 1.0 <= high <= 1.1
        True
    """
    rng = random.Random(seed)
    medians = sorted(
        statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples)
    )
    return medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


def paired(
    runs: dict[str, list[dict]],
    reference: str,
    value: Callable[[dict], float | None],
    combine: Callable[[float, float], float],
) -> dict[str, dict]:
    """Per contender, ``combine(its value, the reference's value)`` over the rounds both ran
    (round ``i`` of one with round ``i`` of the other): median, quartiles, bootstrap interval.

    Example:
        >>> runs = {"a": [{"w": 2.0}, {"w": 4.0}], "ref": [{"w": 2.0}, {"w": 3.0}]}
        >>> paired(runs, "ref", lambda r: r["w"], lambda x, y: x / y)["a"]["median"]
        1.1666666666666665
    """
    base = runs.get(reference) or []
    out = {}
    for name, results in runs.items():
        if name == reference:
            continue
        values = []
        for mine, theirs in zip(results, base, strict=False):
            x, y = _value(mine, value), _value(theirs, value)
            if x is not None and y is not None:
                values.append(combine(x, y))
        if not values:
            continue
        q1, median, q3 = quartiles(values)
        low, high = bootstrap_median(values)
        out[name] = {
            "median": median,
            "q1": q1,
            "q3": q3,
            "ci95": (low, high),
            "rounds": len(values),
        }
    return out


def _value(result: dict, value: Callable[[dict], float | None]) -> float | None:
    if "error" in result:
        return None
    return value(result)
