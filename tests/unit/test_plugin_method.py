"""A method written outside the package, in one file of a user's own, registers and runs live
(create_ttc_graph), on the command line (--plugin, in a fresh interpreter) and in compare."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from langgraph_ttc import create_ttc_graph
from langgraph_ttc.aggregators import AGGREGATORS
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.plugins import load_plugin
from langgraph_ttc.policy import Policy
from langgraph_ttc.scaling.compare import compare_policy
from langgraph_ttc.scaling.pool import build_pool
from langgraph_ttc.strategies import STRATEGIES
from langgraph_ttc.tasks import load_task
from langgraph_ttc.testing import FakeBackend, NoisyOracle
from langgraph_ttc.testing.instant_server import InstantServer

ROOT = Path(__file__).resolve().parents[2]

# The whole method: its vote (pure, so a pool can replay it), its strategy, two registrations.
USER_METHOD = textwrap.dedent(
    '''
    """Trimmed majority: answers given only once do not vote (unless every answer is)."""
    from collections import Counter
    from dataclasses import dataclass

    from langgraph_ttc.aggregators import Aggregator, register_aggregator, weighted_vote
    from langgraph_ttc.strategies import Strategy, register_strategy


    class TrimmedMajority(Aggregator):
        name = "trimmed_majority"

        def vote(self, ballots):
            counts = Counter(a for a in ballots.answers if a is not None)
            kept = [a if counts[a] > 1 else None for a in ballots.answers]
            answers = kept if any(a is not None for a in kept) else ballots.answers
            return weighted_vote(answers, [1.0] * len(answers), method=self.name)


    register_aggregator(TrimmedMajority())


    @register_strategy
    @dataclass(frozen=True)
    class Trimmed(Strategy):
        name = "trimmed_majority"
        aggregator = "trimmed_majority"
    '''
)

QUESTIONS = {f"What is {a} + {a + 2}?": (str(2 * a + 2), 0.6) for a in range(2, 8)}


@pytest.fixture(scope="module")
def plugin_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("user") / "my_trimmed_vote.py"
    path.write_text(USER_METHOD)
    load_plugin(str(path))
    yield path
    # Registries are process-wide: leave them as other tests expect them.
    AGGREGATORS.pop("trimmed_majority", None)
    STRATEGIES.pop("trimmed_majority", None)
    sys.modules.pop("_ttc_plugin_my_trimmed_vote", None)


def test_a_plugin_method_runs_live(plugin_file):
    backend = FakeBackend(reply=NoisyOracle(QUESTIONS))
    graph = create_ttc_graph(backend, "trimmed_majority", n=6)
    result = graph.invoke({"question": "What is 3 + 5?"})["ttc_result"]
    assert result["method"] == "trimmed_majority" and result["usage"]["calls"] == 6
    answers = [c["answer"] for c in result["candidates"]]
    assert answers.count(result["answer"]) > 1 or len(set(answers)) == len(answers)


def test_a_plugin_method_runs_on_the_command_line(plugin_file):
    oracle = NoisyOracle(QUESTIONS)
    with InstantServer(
        reply=lambda prompt, seed, i: oracle([("human", prompt)], f"{seed}:{i}")
    ) as server:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        argv = [
            sys.executable, "-m", "langgraph_ttc", "--plugin", str(plugin_file), "run",
            "What is 4 + 6?", "--strategy", "trimmed_majority", "--n", "5",
            "--base-url", server.base_url, "--model", "instant", "--json",
        ]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["strategy"] == "trimmed_majority" and result["usage"]["calls"] == 5
    unknown = subprocess.run(
        [sys.executable, "-m", "langgraph_ttc", "run", "q", "--strategy", "trimmed_majority"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert unknown.returncode == 2 and "invalid choice: 'trimmed_majority'" in unknown.stderr


def test_a_plugin_vote_is_replayed_in_compare_and_the_model_aggregators_are_skipped(
    plugin_file, tmp_path
):
    task = load_task("rg:basic_arithmetic", size=12, seed=5)
    questions = {p.question: (p.reference, 0.5) for p in task.problems()}
    pool_path = tmp_path / "pool.sqlite"
    build_pool(task, FakeBackend(reply=NoisyOracle(questions)), pool_path, k_max=8, progress=False)
    policy = Policy(meta={"probes": 2, "budgets": [4, 8]})
    policy.save(tmp_path / "policy.json")
    from langgraph_ttc.scaling.calibrate import load_pools

    result = compare_policy(load_pools([pool_path]), policy, n_orders=2, n_boot=20)
    assert "trimmed_majority" in result.fixed and "majority" in result.fixed
    assert set(result.meta["skipped"]) == {"genselect", "rsa"}
    assert "aggregate" in result.meta["skipped"]["rsa"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            sys.executable, "-m", "langgraph_ttc", "compare", "--plugin", str(plugin_file),
            "--pool", str(pool_path), "--policy", str(tmp_path / "policy.json"),
            "--problems", "all", "--out", str(tmp_path / "cmp"), "--orders", "2",
            "--n-boot", "20", "--no-plot",
        ],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    saved = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert "trimmed_majority" in saved["fixed"]
    assert "not replayed: genselect" in done.stdout


def test_a_missing_plugin_is_one_clear_error(tmp_path):
    with pytest.raises(TTCConfigError, match="not found"):
        load_plugin("no_such_package.method")
    with pytest.raises(TTCConfigError, match="does not exist"):
        load_plugin(str(tmp_path / "absent.py"))
