"""The install is reproducible: constraints.txt pins every package the project asks for, each
pin is allowed by pyproject.toml's bounds, and CI and the README install with it."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the suite runs on 3.11 in CI
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pins() -> dict[str, Version]:
    found = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not name==version"
            found[canonicalize_name(name)] = Version(version)
    return found


def requirements() -> list[Requirement]:
    lines = list(PROJECT["dependencies"])
    for extra in PROJECT["optional-dependencies"].values():
        lines += [line for line in extra if not line.startswith("langgraph-ttc")]
    return [Requirement(line) for line in lines]


def test_every_requirement_is_pinned_within_its_bounds():
    pinned = pins()
    for requirement in requirements():
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"constraints.txt pins {name}=={pinned[name]}, outside pyproject's {requirement}"
        )


def test_lower_bounds_are_versions_the_suite_was_run_with():
    """A lower bound older than the pin's release series was never tested: each bound's
    major.minor is the pinned one's."""
    pinned = pins()
    for requirement in requirements():
        lower = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
        assert lower, f"{requirement} has no lower bound"
        tested = pinned[canonicalize_name(requirement.name)]
        assert lower[0].release[:2] == tested.release[:2], (
            f"{requirement}: tested with {tested}; raise the bound to >={tested.major}.{tested.minor}"
        )


def test_ci_and_the_readme_install_with_the_constraints():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^(?:python -m )?pip install .*$", readme, re.M)
    assert all("-c constraints.txt" in command for command in commands[:2])
    assert "-c constraints.txt" in ci and commands[1] in ci
