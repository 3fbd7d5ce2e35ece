"""The router trades width against thinking length: pools drawn at several thinking budgets
(scripted thinking lengths: hard questions are solved only with >= 256 thinking tokens),
calibrate and compare on that axis, the live router against its replay, and pools that keep
each sample's thinking (older pools still load and resume)."""

from __future__ import annotations

import json
import sqlite3

import pytest

from langgraph_ttc import create_ttc_graph
from langgraph_ttc.backends import OpenAICompatibleBackend
from langgraph_ttc.backends.base import SamplingParams
from langgraph_ttc.cli import main
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.plan import Plan
from langgraph_ttc.policy import PlanSpec, Policy
from langgraph_ttc.scaling.compare import write_comparison
from langgraph_ttc.scaling.curves import summarize_pool
from langgraph_ttc.scaling.pool import build_pool, load_pool, sample_seed
from langgraph_ttc.scaling.samples import PoolSamples, ProblemSamples
from langgraph_ttc.scaling.thinking_axis import ThinkingReplay, calibrate_thinking
from langgraph_ttc.scaling.thinking_compare import compare_thinking
from langgraph_ttc.scaling.thinking_pools import (
    ThinkingPools,
    load_thinking_pools,
    thinking_budget_of,
)
from langgraph_ttc.stopping import AgreementAtLeast
from langgraph_ttc.strategies import Adaptive
from langgraph_ttc.tasks import load_task
from langgraph_ttc.testing import FakeBackend, FakeReasoningBackend, ThinkingOracle
from langgraph_ttc.testing.instant_server import InstantServer

SHORT, LONG = 32, 512  # the pools' thinking budgets
ANSWER = 16  # max_tokens: the answer's room
EASY, HARD = 16, 256  # thinking tokens the questions need
QUESTIONS = {
    **{f"What is {a} + {a + 1}?": (str(2 * a + 1), EASY) for a in range(2, 8)},
    **{f"What is {a} * {a + 3}?": (str(a * (a + 3)), HARD) for a in range(2, 8)},
}
TWO = dict(list(QUESTIONS.items())[5:7])  # an easy and a hard question


def write_task(directory, questions=QUESTIONS) -> str:
    lines = [
        {"id": f"{'easy' if need == EASY else 'hard'}-{answer}", "question": q, "answer": answer}
        for q, (answer, need) in questions.items()
    ]
    path = directory / "qa.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines))
    return f"jsonl:{path}"


@pytest.fixture(scope="module")
def pools(tmp_path_factory):
    """One pool per thinking budget over the same twelve questions, six samples each."""
    directory = tmp_path_factory.mktemp("thinking")
    task = load_task(write_task(directory))
    backend = FakeReasoningBackend(ThinkingOracle(QUESTIONS))
    paths = {}
    for budget in (SHORT, LONG):
        paths[budget] = directory / f"think{budget}" / "pool.sqlite"
        params = SamplingParams(max_tokens=ANSWER, thinking_budget=budget)
        build_pool(
            task,
            backend,
            paths[budget],
            k_max=6,
            params=params,
            seed=1,
            progress=False,
            concurrency=12,
        )
    return task, paths


# -- pools ----------------------------------------------------------------------------------------


def test_pools_keep_each_samples_thinking_and_their_budget(pools):
    task, paths = pools
    pool = load_pool(paths[LONG])
    assert thinking_budget_of(pool) == LONG and pool.meta["params"]["max_tokens"] == ANSWER
    oracle = ThinkingOracle(QUESTIONS)
    for problem, source in zip(pool.problems, task.problems(), strict=True):
        prompt = task.messages(source.question)
        expected = [oracle(prompt, sample_seed(1, source.id, i), LONG)[0] for i in range(6)]
        assert problem.thinking_tokens.tolist() == expected
        # The answer "The answer is N." is 4 tokens on top of the thinking.
        assert problem.completion_tokens.tolist() == [t + 4 for t in expected]
    hard = [p for p in pool.problems if p.problem_id.startswith("hard")]
    assert all((p.thinking_tokens >= HARD).all() for p in hard)
    short = load_pool(paths[SHORT])
    assert all((p.thinking_tokens <= SHORT).all() for p in short.problems)


def test_a_pool_refuses_another_thinking_budget(pools):
    task, paths = pools
    backend = FakeReasoningBackend(ThinkingOracle(QUESTIONS))
    params = SamplingParams(max_tokens=ANSWER, thinking_budget=LONG)
    with pytest.raises(TTCConfigError, match="thinking_budget"):
        build_pool(task, backend, paths[SHORT], k_max=6, params=params, seed=1, progress=False)


def test_samples_cut_off_in_their_thinking_are_counted(tmp_path):
    task = load_task(write_task(tmp_path, TWO))
    with InstantServer(reasoning="vllm") as server:
        backend = OpenAICompatibleBackend(server.base_url, "instant", reasoning=False)
        path = tmp_path / "pool.sqlite"
        build_pool(
            task, backend, path, k_max=2, params=SamplingParams(max_tokens=4), progress=False
        )
    pool = load_pool(path)
    assert all(p.truncated_in_thinking == 2 for p in pool.problems)
    assert all(p.thinking_tokens.tolist() == [4, 4] for p in pool.problems)
    summary = summarize_pool(pool, ["majority"], [1, 2], n_boot=10)
    assert summary["thinking"] == {
        "thinking_budget": None,
        "mean_thinking_tokens": 4.0,
        "truncated_in_thinking": 2 * len(TWO),
    }


@pytest.mark.parametrize("stored", ["before thinking", "with thinking_budget null"])
def test_older_pools_load_and_resume(tmp_path, stored):
    """A pool written before the thinking columns (and one written while thinking_budget was
    stored as null) loads with no thinking and resumes, gaining the columns."""
    task = load_task(write_task(tmp_path, TWO))
    path = tmp_path / "pool.sqlite"
    build_pool(task, FakeBackend(), path, k_max=2, progress=False)
    with sqlite3.connect(path) as conn:
        for column in ("thinking_tokens", "truncated_in_thinking"):
            conn.execute(f"ALTER TABLE samples DROP COLUMN {column}")
        if stored != "before thinking":
            (params,) = conn.execute("SELECT value FROM meta WHERE key = 'params'").fetchone()
            params = {**json.loads(params), "thinking_budget": None}
            conn.execute("UPDATE meta SET value = ? WHERE key = 'params'", (json.dumps(params),))
    old = load_pool(path)
    assert [p.thinking_tokens.tolist() for p in old.problems] == [[0.0, 0.0]] * 2
    report = build_pool(task, FakeBackend(), path, k_max=3, progress=False)
    assert report.drawn == 2
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT sample_index, thinking_tokens FROM samples ORDER BY problem_id, sample_index"
        ).fetchall()
    assert rows == [(0, None), (1, None), (2, 0)] * 2  # old rows keep NULL: no thinking known
    assert load_pool(path).n_min == 3


# -- the thinking axis: calibrate and compare -----------------------------------------------------


def test_calibration_buys_thinking_for_hard_questions_and_width_when_thinking_is_unaffordable(
    pools,
):
    """Probes think up to 32 tokens; questions whose probes disagree (the hard ones) get long
    thinking once the token budget affords two long samples, width at short thinking before."""
    _, paths = pools
    thinking = load_thinking_pools([paths[SHORT], paths[LONG]])
    assert thinking.budgets == [SHORT, LONG] and thinking.answer_tokens == ANSWER
    result = calibrate_thinking(thinking, [96, 600, 1200], probes=2, n_orders=8)
    policy = result.policy
    assert (policy.unit, policy.statistic, policy.edges) == ("tokens", "agreement", (1.0,))
    assert policy.meta["probe_thinking_budget"] == SHORT
    assert policy.meta["thinking_budgets"] == [SHORT, LONG]
    agreed, split = policy.spec(1, 1200), policy.spec(2, 1200)
    # The probes agree: answer from them (stop, or the global sequential vote, already decided
    # when the probes agree: per-bin plans are shrunk toward it where they do not pay).
    assert agreed.stop or agreed.stop_rule is not None
    assert split.thinking_budget == LONG  # 2 x (16 + 32) + 2 x (16 + 512) = 1152 <= 1200
    # 2 x 48 + 528 > 600: no long sample fits, so more short ones (or the probes) it is.
    assert policy.spec(2, 600).thinking_budget in (None, SHORT)
    assert policy.spec(1, 96).stop and policy.spec(2, 96).stop  # only the probes fit
    cells = {(c["bin"], c["budget"]): c for c in result.cells}
    assert cells[2, 1200]["accuracy"] > cells[2, 600]["accuracy"] + 0.3
    cv = {row["budget"]: row for row in result.cross_validation}
    assert cv[1200]["cv_accuracy"] > cv[600]["cv_accuracy"] + 0.1
    assert all(row["cv_tokens"] <= row["budget"] for row in result.cross_validation)
    restored = Policy.from_json(policy.to_json())
    assert restored.unit == "tokens" and restored.spec(2, 1200) == split


def test_compare_reports_accuracy_against_tokens_on_both_axes(pools, tmp_path):
    _, paths = pools
    thinking = load_thinking_pools([paths[SHORT], paths[LONG]])
    policy = calibrate_thinking(thinking, [96, 1200], probes=2, n_orders=4).policy
    result = compare_thinking(thinking, policy, n_orders=4, n_boot=50)
    assert set(result.fixed) == {"majority think<=32", "majority think<=512"}
    assert set(result.thinking) == {"majority k=1", "majority k=2", "majority k=4"}
    width = result.fixed["majority think<=512"]
    assert [p["k"] for p in width] == [1, 2, 3, 4, 5, 6]
    assert all(p["mean_tokens"] > p["mean_thinking_tokens"] > 0 for p in width)
    one = result.thinking["majority k=1"]
    # One sample thinking longer: more tokens, and the hard questions solved.
    assert [p["thinking_budget"] for p in one] == [SHORT, LONG]
    assert one[1]["mean_tokens"] > one[0]["mean_tokens"]
    assert one[1]["accuracy"] > one[0]["accuracy"] + 0.3
    assert result.meta["unit"] == "tokens"
    assert [row["budget"] for row in result.adaptive] == [96, 1200]
    assert all("mean_tokens" in row and "fixed_tokens_needed" in row for row in result.adaptive)
    write_comparison(result, tmp_path)
    assert (tmp_path / "compare.png").stat().st_size > 0
    assert (
        json.loads((tmp_path / "compare.json").read_text())["thinking"].keys()
        == result.thinking.keys()
    )


def test_calibrate_and_compare_on_the_command_line(pools, tmp_path, capsys):
    _, paths = pools
    policy = tmp_path / "policy.json"
    pool_args = ["--pool", str(paths[SHORT]), "--pool", str(paths[LONG])]
    code = main(
        ["calibrate", *pool_args, "--out", str(policy), "--probes", "2", "--orders", "4",
         "--token-budgets", "96,1200"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "tokens" in out and "think<=512" in out
    fitted = Policy.load(policy)
    assert fitted.unit == "tokens" and fitted.meta["budgets"] == [96, 1200]
    assert len(fitted.meta["heldout_problems"]) == len(QUESTIONS) // 2
    code = main(["compare", *pool_args, "--policy", str(policy), "--out", str(tmp_path / "cmp"),
                 "--orders", "4", "--n-boot", "20", "--no-plot"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "tokens needed" in out
    saved = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert saved["meta"]["unit"] == "tokens" and "majority k=1" in saved["thinking"]


def test_a_token_policy_needs_pools_at_several_budgets():
    one = PoolSamples({}, (ProblemSamples.from_lists("q", ["4"] * 2, [1, 1]),))
    with pytest.raises(TTCConfigError, match="two or more thinking budgets"):
        ThinkingPools({64: one})
    with pytest.raises(TTCConfigError, match="agreement or confidence"):
        ThinkingReplay(ThinkingPools({64: one, 128: one}), probes=1, statistic="verifier")


# -- live against replay --------------------------------------------------------------------------


def pool_of(question: str, reference: str, candidates: list[dict]) -> PoolSamples:
    """A one-problem pool of a live run's candidates, in the order it drew them."""
    problem = ProblemSamples.from_lists(
        question,
        [c["answer"] for c in candidates],
        [float(c["answer"] == reference) for c in candidates],
        completion_tokens=[c["completion_tokens"] for c in candidates],
    )
    return PoolSamples({}, (problem,))


@pytest.mark.parametrize(
    "spec",
    [
        PlanSpec(width=4, thinking_budget=LONG),
        PlanSpec(width=6, stop_rule=AgreementAtLeast(0.6), step=1, thinking_budget=LONG),
        PlanSpec(width=5, thinking_budget=SHORT),
    ],
    ids=["fixed", "sequential", "width"],
)
def test_live_router_and_replay_agree_on_thinking_plans(spec):
    """A live router run whose one-cell token policy sets the thinking budget of the samples
    after the probes, then the replay of exactly its samples (probes from the short pool, the
    rest from the plan's): the same answer is graded, the same calls and tokens counted."""
    oracle = ThinkingOracle(QUESTIONS)
    policy = Policy(
        edges=(),
        plans={1: {1200: spec}},
        unit="tokens",
        meta={"probes": 2, "probe_thinking_budget": SHORT},
    )
    drawn_after_probes = 0
    for seed, (question, (reference, _)) in enumerate(QUESTIONS.items()):
        backend = FakeReasoningBackend(oracle)
        strategy = Adaptive(
            n=16,
            probes=2,
            max_tokens=ANSWER,
            thinking_budget=SHORT,
            token_budget=1200,
            policy=policy,
            seed=seed,
        )
        result = create_ttc_graph(backend, strategy).invoke({"question": question})["ttc_result"]
        candidates = result["candidates"]
        assert backend.budgets[0] == SHORT and set(backend.budgets[1:]) <= {spec.thinking_budget}
        assert len(backend.budgets) > 1 or spec.stop_rule is not None  # may stop at the probes
        assert result["plan"]["thinking_budget"] == spec.thinking_budget
        probes, rest = candidates[:2], candidates[2:]
        assert all(c["thinking_tokens"] <= SHORT for c in probes)
        assert all(c["thinking_tokens"] <= spec.thinking_budget for c in rest)

        if spec.thinking_budget == SHORT:  # the plan thinks as the probes do: one pool
            pools = {SHORT: pool_of(question, reference, candidates)}
            pools[LONG] = pools[SHORT]
        else:  # probes from the short pool; the long pool's first two positions are not read
            pools = {
                SHORT: pool_of(question, reference, probes),
                LONG: pool_of(question, reference, candidates),
            }
        drawn_after_probes += len(rest)
        replay = ThinkingReplay(ThinkingPools(pools, answer_tokens=ANSWER), probes=2, n_orders=1)
        replayed = replay.outcomes(spec, 1200)
        assert replayed.correct[0, 0] == float(result["answer"] == reference), question
        assert replayed.calls[0, 0] == result["usage"]["calls"], question
        assert replayed.tokens[0, 0] == result["usage"]["completion_tokens"], question
        assert result["usage"]["thinking_tokens"] == sum(c["thinking_tokens"] for c in candidates)
    assert drawn_after_probes > 0


def test_a_token_policy_needs_a_token_budget_and_the_probes_thinking(caplog):
    policy = Policy(
        edges=(),
        plans={1: {100: PlanSpec(width=2)}},
        unit="tokens",
        meta={"probe_thinking_budget": SHORT},
    )
    backend = FakeReasoningBackend(ThinkingOracle(QUESTIONS))
    with pytest.raises(TTCConfigError, match="token_budget"):
        create_ttc_graph(backend, Adaptive(policy=policy))
    with caplog.at_level("WARNING"):
        create_ttc_graph(backend, Adaptive(policy=policy, token_budget=100, thinking_budget=64))
    assert f"pass Adaptive(thinking_budget={SHORT})" in caplog.text


def test_plans_carry_their_thinking_budget():
    plan = PlanSpec(width=3, thinking_budget=LONG).resolve(probes=2, calls_left=8)
    assert Plan.from_state(plan.to_state()) == plan and plan.thinking_budget == LONG
    assert PlanSpec.from_dict(PlanSpec(width=3, thinking_budget=7).to_dict()).thinking_budget == 7
    assert Policy.from_json(Policy.default().to_json()).unit == "calls"  # older policies too
    with pytest.raises(TTCConfigError):
        PlanSpec(width=2, thinking_budget=-1)
