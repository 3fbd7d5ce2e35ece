"""The core install is lean: a graph runs without importing any extra, and a missing extra
fails at the point of use with one line naming the pip command, never at import."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from langgraph_ttc.extras import EXTRAS

EXTRA_MODULES = sorted({module for modules in EXTRAS.values() for module in modules})

# Run in a fresh interpreter; with BLOCK set, those packages cannot be imported at all.
PRELUDE = textwrap.dedent(
    """
    import importlib.abc, json, sys
    BLOCK = set(json.loads(sys.argv[1]))

    class Blocked(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in BLOCK:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Blocked())
    """
)


def fresh(code: str, block=(), *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code), json.dumps(list(block)), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_majority_graph_imports_no_extra(instant_server):
    """Against a real HTTP server, sync and async: not one module of an extra is loaded."""
    done = fresh(
        """
        import asyncio
        from langgraph_ttc import OpenAICompatibleBackend, create_ttc_graph
        backend = OpenAICompatibleBackend(sys.argv[2], sys.argv[3])
        graph = create_ttc_graph(backend, "majority", n=4)
        sync = graph.invoke({"question": "What is 2 + 3?"})["ttc_result"]
        done = asyncio.run(graph.ainvoke({"question": "What is 2 + 3?"}))["ttc_result"]
        extras = json.loads(sys.argv[4])
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in extras)
        print(json.dumps({"calls": [sync["usage"]["calls"], done["usage"]["calls"]], "loaded": loaded}))
        """,
        (),
        instant_server.base_url,
        instant_server.model,
        json.dumps(EXTRA_MODULES),
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"calls": [4, 4], "loaded": []}


def test_import_needs_no_extra_and_loads_nothing_heavy():
    done = fresh(
        """
        import langgraph_ttc
        heavy = ("langgraph", "langchain_core", "openai", "numpy")
        print(json.dumps(sorted(m for m in heavy if m in sys.modules)))
        print(len(langgraph_ttc.__all__))
        """,
        EXTRA_MODULES,
    )
    assert done.returncode == 0, done.stderr
    loaded, exported = done.stdout.strip().splitlines()
    assert json.loads(loaded) == [] and 30 <= int(exported) <= 40  # a short public surface


def test_missing_extras_fail_at_the_point_of_use_in_one_line(instant_server):
    done = fresh(
        """
        from langgraph_ttc import create_ttc_graph, load_task
        from langgraph_ttc.extras import MissingExtra
        from langgraph_ttc.testing import FakeBackend
        # The core still works: a graph with a fake model.
        print(create_ttc_graph(FakeBackend(), "majority", n=2).invoke({"question": "q?"})["ttc_result"]["usage"]["calls"])
        for use in (lambda: load_task("rg:basic_arithmetic"), lambda: load_task("humaneval")):
            try:
                use()
            except MissingExtra as exc:
                print(exc)
        from langgraph_ttc.scaling.fits import fit_power_law
        import numpy as np
        try:
            fit_power_law(np.array([1, 2, 4]), np.array([0.1, 0.2, 0.3]))
        except MissingExtra as exc:
            print(exc)
        """,
        EXTRAS["eval"],
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "2"
    assert lines[1:] == [
        "reasoning-gym tasks needs the 'eval' extra: pip install 'langgraph-ttc[eval]'",
        "the HumanEval task needs the 'eval' extra: pip install 'langgraph-ttc[eval]'",
        "fitting the coverage law needs the 'eval' extra: pip install 'langgraph-ttc[eval]'",
    ]


def test_cli_commands_name_the_missing_extra(tmp_path):
    commands = [
        ["curves", "--task", "rg:basic_arithmetic", "--out", str(tmp_path / "c")],
        ["calibrate", "--pool", str(tmp_path / "p.sqlite"), "--out", str(tmp_path / "p.json")],
        ["compare", "--pool", "p.sqlite", "--policy", "p.json", "--out", str(tmp_path / "d")],
    ]
    for argv in commands:
        done = fresh(
            "from langgraph_ttc.cli import main\nsys.exit(main(sys.argv[2:]))",
            EXTRAS["eval"],
            *argv,
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip() == (
            f"error: langgraph-ttc {argv[0]} needs the 'eval' extra: "
            "pip install 'langgraph-ttc[eval]'"
        )
    done = fresh(
        "from langgraph_ttc.cli import main\nsys.exit(main(sys.argv[2:]))",
        EXTRAS["local"],
        "run",
        "What is 2 + 2?",
    )
    assert done.returncode == 2
    assert "pip install 'langgraph-ttc[local]'" in done.stderr.strip().splitlines()[-1]
