"""Write constraints.txt: the installed version of every package that
``langgraph-ttc[dev]`` pulls in, directly or through other packages.

Run it from the environment the suite just passed in (``scripts/refresh_constraints.sh`` does):
the file then names versions known to pass, which ``.ci/run`` and the README install with.

    python scripts/freeze_constraints.py [--extras dev] [--out constraints.txt]
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PROJECT = "langgraph-ttc"


def closure(project: str, extras: set[str]) -> dict[str, str]:
    """Name -> installed version of every distribution ``project[extras]`` requires."""
    found: dict[str, str] = {}
    pending = [(project, frozenset(extras))]
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        name, wanted = pending.pop()
        if (canonicalize_name(name), wanted) in seen:
            continue
        seen.add((canonicalize_name(name), wanted))
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # a requirement for another platform or Python, not installed here
        if canonicalize_name(name) != canonicalize_name(project):
            found[canonicalize_name(dist.metadata["Name"])] = dist.version
        for line in dist.requires or []:
            requirement = Requirement(line)
            environments = [{"extra": extra} for extra in wanted] or [{"extra": ""}]
            if requirement.marker is not None and not any(
                requirement.marker.evaluate(env) for env in environments
            ):
                continue
            pending.append((requirement.name, frozenset(requirement.extras)))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extras", default="dev")
    parser.add_argument("--out", type=Path, default=Path("constraints.txt"))
    args = parser.parse_args(argv)
    versions = closure(PROJECT, set(args.extras.split(",")))
    if not versions:
        print(f"{PROJECT} is not installed in this environment", file=sys.stderr)
        return 1
    header = (
        "# Versions known to pass the whole suite (python -m pytest), written by\n"
        "# scripts/refresh_constraints.sh. Install with: pip install -c constraints.txt -e '.[dev]'\n"
    )
    lines = [f"{name}=={version}" for name, version in sorted(versions.items())]
    args.out.write_text(header + "\n".join(lines) + "\n")
    print(f"wrote {len(lines)} pins to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
