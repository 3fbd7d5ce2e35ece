"""Pools built on a local Ray (``ray.init(num_cpus=2)``, one session for this module): two
sampler actors against two instant OpenAI-compatible servers with a per-request latency, and
against the embedded model; an actor killed mid-run; failed samples retried on resume. Every
Ray pool must equal the pool the single-process builder writes for the same seeds.
"""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from langgraph_ttc.backends import OpenAICompatibleBackend, SamplingParams
from langgraph_ttc.confidence import ConfidenceSpec
from langgraph_ttc.distributed import Endpoints, build_pool_on_ray
from langgraph_ttc.scaling import load_pool
from langgraph_ttc.scaling.pool import build_pool
from langgraph_ttc.tasks import load_task
from langgraph_ttc.testing.instant_server import InstantServer
from langgraph_ttc.verifiers import LLMJudge

pytestmark = pytest.mark.integration

LATENCY_S = 0.05  # each answer waits this long, like a busy server's queue
MODEL = "instant"
# Everything a sample row says, but when it was drawn and how long it took.
COLUMNS = (
    "problem_id, sample_index, seed, params, prompt_hash, text, answer, score, correct, "
    "prompt_tokens, completion_tokens, cached_tokens, finish_reason, model_id, error, "
    "critique_text, critique_verdict, critique_calls, critique_prompt_tokens, "
    "critique_completion_tokens, critique_error, verifier_score, verify_calls, "
    "verify_prompt_tokens, verify_completion_tokens, verify_error, confidence, "
    "thinking_tokens, truncated_in_thinking"
)


@pytest.fixture(scope="module")
def servers():
    first, second = InstantServer(delay_s=LATENCY_S), InstantServer(delay_s=LATENCY_S)
    with first, second:
        yield first, second


def rows(path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            f"SELECT {COLUMNS} FROM samples ORDER BY problem_id, sample_index"
        ).fetchall()


def requests(servers) -> int:
    return sum(server.stats.requests for server in servers)


def single_process_pool(task, server, tmp_path, **options):
    """The reference: the pool the single-process builder writes against one server."""
    reference = tmp_path / "single.sqlite"
    backend = OpenAICompatibleBackend(server.base_url, MODEL)
    build_pool(task, backend, reference, progress=False, **options)
    return reference


def assert_same_pool(path, reference, k_max: int, ignore: tuple[str, ...] = ()) -> None:
    """Row for row the reference's (but the ``ignore`` columns), every question with exactly
    k_max samples (none lost, none doubled), and the same answers and counts once loaded."""
    got, want = rows(path), rows(reference)
    keys = [(r[0], r[1]) for r in got]
    assert len(keys) == len(set(keys)), "a sample landed twice"
    names = [c.strip() for c in COLUMNS.split(",")]
    keep = [i for i, name in enumerate(names) if name not in ignore]
    assert len(got) == len(want)
    for mine, theirs in zip(got, want, strict=True):
        differ = {names[i]: (mine[i], theirs[i]) for i in keep if mine[i] != theirs[i]}
        assert not differ, (mine[:2], differ)
    pool, ref = load_pool(path), load_pool(reference)
    assert pool.problem_ids == ref.problem_ids
    for mine, theirs in zip(pool.problems, ref.problems, strict=True):
        assert mine.n == theirs.n == k_max
        assert list(mine.answers) == list(theirs.answers)
        assert mine.errors == theirs.errors == 0


def test_two_actors_two_servers_equal_the_single_process_pool(ray_local, servers, tmp_path):
    """Samples, critiques, judge scores and confidences: the Ray pool is the local one; the
    questions are spread over both servers and each request is made once."""
    task = load_task("rg:basic_arithmetic", size=8, seed=3)
    options = dict(
        k_max=4,
        params=SamplingParams(max_tokens=64),
        seed=11,
        critique=True,
        verifier=LLMJudge(),
        confidence=ConfidenceSpec(),
    )
    reference = single_process_pool(task, servers[0], tmp_path, **options)
    before = [server.stats.requests for server in servers]

    path = tmp_path / "ray.sqlite"
    replicas = Endpoints([server.base_url for server in servers], MODEL)
    report = build_pool_on_ray(task, replicas, path, actors=2, progress=False, **options)

    assert_same_pool(path, reference, 4)
    assert (report.drawn, report.critiqued, report.verified, report.failed) == (32, 32, 32, 0)
    spent = [server.stats.requests - b for server, b in zip(servers, before, strict=True)]
    assert sum(spent) == report.usage["requests"] == 96  # sample + critique + judge, once each
    expected = [0, 0]
    for problem in task.problems():
        expected[replicas.route(problem.id)] += 12
    assert spent == expected and min(spent) > 0

    # Done questions are skipped; only the judge's unparsed verdicts are asked again (as the
    # single-process builder does on resume), with the same results.
    with sqlite3.connect(path) as conn:
        unparsed = conn.execute("SELECT COUNT(*) FROM samples WHERE verify_error IS NOT NULL")
        unparsed = unparsed.fetchone()[0]
    again = build_pool_on_ray(task, replicas, path, actors=2, progress=False, **options)
    assert (again.drawn, again.critiqued, again.verified) == (0, 0, unparsed)
    assert_same_pool(path, reference, 4)


def test_failed_samples_and_a_larger_k_resume(ray_local, servers, tmp_path):
    """A run with failed samples keeps the good ones; the next run redraws exactly the failed
    ones, and a run with a larger k_max draws only the new indices."""
    task = load_task("rg:basic_arithmetic", size=6, seed=5)
    replicas = Endpoints([server.base_url for server in servers], MODEL)
    reference = single_process_pool(task, servers[0], tmp_path, k_max=4)

    path = tmp_path / "ray.sqlite"
    for server in servers:
        server.inject("400", times=2)  # a 400 is not retried: the sample fails
    try:
        first = build_pool_on_ray(task, replicas, path, k_max=2, actors=2, progress=False)
    finally:
        for server in servers:
            server.clear_faults()
    assert first.drawn == 12 and 1 <= first.failed <= 4
    with sqlite3.connect(path) as conn:
        failed = conn.execute("SELECT COUNT(*) FROM samples WHERE error IS NOT NULL").fetchone()[0]
    assert failed == first.failed

    before = requests(servers)
    second = build_pool_on_ray(task, replicas, path, k_max=4, actors=2, progress=False)
    assert second.drawn == first.failed + 12 and second.failed == 0
    assert requests(servers) - before == second.drawn
    assert_same_pool(path, reference, 4)


def test_an_actor_killed_mid_run_loses_and_doubles_nothing(ray_local, servers, tmp_path):
    """ray.kill on one sampler while it draws: Ray restarts it and retries its batch; the pool
    is complete, every sample landed once, and it equals the single-process pool."""
    import ray

    @ray.remote(num_cpus=0)
    class Registry:
        def __init__(self) -> None:
            self.handles = []

        def add(self, handle) -> None:
            self.handles.append(handle)

        def get(self) -> list:
            return self.handles

    registry = Registry.options(name="samplers").remote()

    def on_start() -> None:  # runs in each sampler actor, at every (re)start
        import ray as worker_ray

        actor = worker_ray.get_runtime_context().current_actor
        worker_ray.get(worker_ray.get_actor("samplers").add.remote(actor))

    task = load_task("rg:basic_arithmetic", size=12, seed=7)
    reference = single_process_pool(task, servers[0], tmp_path, k_max=4, critique=True)
    replicas = Endpoints([server.base_url for server in servers], MODEL)
    start = requests(servers)
    killed: dict = {}

    def kill_one_when_busy() -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and "at" not in killed:
            if requests(servers) - start >= 30:  # 30 of the 96 requests made
                handles = ray.get(registry.get.remote())
                killed["at"] = requests(servers) - start
                ray.kill(handles[0], no_restart=False)
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_one_when_busy, daemon=True)
    killer.start()
    path = tmp_path / "ray.sqlite"
    try:
        report = build_pool_on_ray(
            task,
            replicas,
            path,
            k_max=4,
            critique=True,
            actors=2,
            concurrency=2,
            progress=False,
            on_actor_start=on_start,
        )
    finally:
        killer.join(timeout=5)
    assert 30 <= killed["at"] < 96, killed  # killed mid-run
    assert len(ray.get(registry.get.remote())) == 3  # two actors started, one restarted
    assert (report.drawn, report.critiqued, report.failed) == (48, 48, 0)  # counted once
    assert requests(servers) - start >= 96  # what the killed actor drew was drawn again
    assert_same_pool(path, reference, 4)
    ray.kill(registry)


def test_embedded_model_on_two_actors_equals_the_single_process_pool(ray_local, tmp_path):
    """Each actor loads Gemma 3 270M itself; equal seeds give the same samples in any process."""
    from langgraph_ttc.backends.embedded import EmbeddedBackend

    task = load_task("rg:basic_arithmetic", size=2, seed=1)
    options = dict(k_max=2, params=SamplingParams(max_tokens=24), seed=2)
    reference = tmp_path / "single.sqlite"
    build_pool(task, EmbeddedBackend.default(), reference, progress=False, **options)
    path = tmp_path / "ray.sqlite"
    report = build_pool_on_ray(task, "local", path, actors=2, progress=False, **options)
    assert report.drawn == 4 and report.failed == 0
    assert report.usage["completion_tokens"] > 0
    # cached_tokens counts prompt tokens found in llama.cpp's KV cache, which depends on what
    # the process evaluated before: bookkeeping of this process, not part of the sample.
    assert_same_pool(path, reference, 2, ignore=("cached_tokens",))


def test_vllm_path_keeps_each_question_in_one_engine_batch(ray_local, tmp_path, monkeypatch):
    """build_pool_on_vllm end to end on Ray Data with a stand-in for ray.data.llm: vLLM cannot
    run here (no GPU), so the processor is preprocess -> an engine stand-in (an actor pool of 2
    "replicas" batching rows as the vLLM stage does, batch_size from the real, validated
    vLLMEngineProcessorConfig) -> postprocess. Every question's samples meet in one batch, and
    the pool has every sample and critique once."""
    import types
    import uuid

    import ray
    import ray.data.llm as real

    from langgraph_ttc.distributed import VLLMEngine
    from langgraph_ttc.distributed import vllm as on_vllm

    @ray.remote(num_cpus=0)
    class Batches:
        def __init__(self) -> None:
            self.seen = []

        def add(self, batch_id, keys) -> None:
            self.seen.append((batch_id, keys))

        def get(self) -> list:
            return self.seen

    batches = Batches.options(name="engine-batches").remote()

    class Engine:  # the vLL engine stage's contract: adds generated_text and token counts
        def __call__(self, batch):
            import ray as worker_ray

            batch_id = uuid.uuid4().hex
            keys = [
                f"{p}/{purpose}"
                for p, purpose in zip(batch["problem_id"], batch["purpose"], strict=True)
            ]
            worker_ray.get(worker_ray.get_actor("engine-batches").add.remote(batch_id, keys))
            n = len(batch["problem_id"])
            batch["generated_text"] = [
                f"Let me think. The answer is {int(seed) % 7}." for seed in batch["seed"]
            ]
            batch["num_input_tokens"] = [12] * n
            batch["num_generated_tokens"] = [7] * n
            return batch

    def build_processor(config, preprocess, postprocess):
        def run(dataset):
            engine = dataset.map(preprocess).map_batches(
                Engine,
                batch_size=config.batch_size,
                compute=ray.data.ActorPoolStrategy(size=2),
                num_cpus=0.25,
            )
            return engine.map(postprocess)

        return run

    stand_in = types.SimpleNamespace(
        build_processor=build_processor, vLLMEngineProcessorConfig=real.vLLMEngineProcessorConfig
    )
    monkeypatch.setattr(on_vllm, "require_vllm", lambda: stand_in)
    task = load_task("rg:basic_arithmetic", size=5, seed=4)
    path = tmp_path / "vllm.sqlite"
    report = on_vllm.build_pool_on_vllm(
        task, VLLMEngine("stand-in/model"), path, k_max=3, critique=True, progress=False
    )
    assert (report.drawn, report.critiqued) == (15, 15)
    seen = ray.get(batches.get.remote())
    samples = [keys for _, keys in seen if keys[0].endswith("/generate")]
    for problem in task.problems():
        holding = [keys for keys in samples if f"{problem.id}/generate" in keys]
        assert len(holding) == 1 and holding[0].count(f"{problem.id}/generate") == 3
    pool = load_pool(path)
    assert [p.n for p in pool.problems] == [3] * 5
    with sqlite3.connect(path) as conn:
        assert conn.execute(
            "SELECT COUNT(*), COUNT(critique_text), COUNT(DISTINCT seed) FROM samples"
        ).fetchone() == (15, 15, 15)
    again = on_vllm.build_pool_on_vllm(
        task, VLLMEngine("stand-in/model"), path, k_max=3, critique=True, progress=False
    )
    assert (again.drawn, again.critiqued) == (0, 0)
    ray.kill(batches)


def test_curves_command_with_ray_and_two_replicas(ray_local, servers, tmp_path, capsys):
    """`langgraph-ttc curves --ray --base-url URL1,URL2`: the pool is drawn on Ray (the
    session this process has), then curved as any pool."""
    from langgraph_ttc.cli import main

    out = tmp_path / "curves"
    urls = ",".join(server.base_url for server in servers)
    argv = ["curves", "--task", "rg:basic_arithmetic", "--size", "4", "--k-max", "2"]
    argv += ["--out", str(out), "--model", MODEL, "--base-url", urls, "--ray", "--actors", "2"]
    argv += ["--max-tokens", "32", "--n-boot", "20", "--no-plot", "--no-progress"]
    before = requests(servers)
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "pool: 8 samples (0 failed)" in printed
    assert requests(servers) - before == 16  # 8 samples + 8 critiques (filter_vote, best_of_n)
    pool = load_pool(out / "pool.sqlite")
    assert [p.n for p in pool.problems] == [2] * 4


def test_a_dead_backend_stops_the_build_in_one_line_and_the_next_run_resumes(
    ray_local, servers, tmp_path
):
    """Every request refused: an actor stops after 20 samples failed in a row (across its
    batches, as the single-process builder does), the driver raises that BackendError in
    one line, the shards landed before stay, and the next run completes the pool."""
    from langgraph_ttc.errors import BackendError

    task = load_task("rg:basic_arithmetic", size=20, seed=8)  # 80 samples: one actor gets >= 40
    reference = single_process_pool(task, servers[0], tmp_path, k_max=4)
    replicas = Endpoints([server.base_url for server in servers], MODEL)
    path = tmp_path / "ray.sqlite"
    for server in servers:
        server.inject("400", times=1000)
    try:
        with pytest.raises(BackendError) as caught:
            build_pool_on_ray(task, replicas, path, k_max=4, actors=2, progress=False)
    finally:
        for server in servers:
            server.clear_faults()
    assert "samples failed in a row" in str(caught.value)
    assert "\n" not in str(caught.value)
    with sqlite3.connect(path) as conn:
        landed = conn.execute("SELECT COUNT(*), COUNT(error) FROM samples").fetchone()
    assert landed[0] == landed[1]  # what landed are the failed samples, each once
    report = build_pool_on_ray(task, replicas, path, k_max=4, actors=2, progress=False)
    assert report.failed == 0 and report.drawn == 80
    assert_same_pool(path, reference, 4)
