"""The parts of langgraph_ttc.distributed that need no running Ray: landing shards, backend
recipes, argument checks, the one-line error without the extra, the CLI's choices, and the
rows sent to ``ray.data.llm`` (shaped as Ray's documentation shows them)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from langgraph_ttc.backends import SamplingParams
from langgraph_ttc.cli import build_parser
from langgraph_ttc.cli.curves import _on_ray
from langgraph_ttc.distributed import Endpoints, VLLMEngine, build_pool_on_ray, land_shard
from langgraph_ttc.distributed import vllm as on_vllm
from langgraph_ttc.distributed.recipes import as_recipe
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.extras import MissingExtra
from langgraph_ttc.scaling._pool_builder import sample_seed
from langgraph_ttc.scaling._pool_schema import SCHEMA
from langgraph_ttc.tasks import load_task
from langgraph_ttc.testing import FakeBackend


@pytest.fixture
def conn():
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.executescript(SCHEMA)
    yield conn
    conn.close()


def row(index=0, **values) -> dict:
    return {"problem_id": "q1", "sample_index": index, "answer": "4", "error": None, **values}


def test_a_shard_lands_once_and_never_turns_a_good_sample_bad(conn):
    assert land_shard(conn, [row(0), row(1, error="HTTP 500", answer=None)]) == 2
    assert land_shard(conn, [row(0), row(1, error="HTTP 500", answer=None)]) == 2  # same rows
    assert land_shard(conn, [row(0, error="timeout", answer=None)]) == 0  # good row kept
    assert land_shard(conn, [row(1, answer="5")]) == 1  # the failed one is replaced
    assert land_shard(conn, [row(0, critique_text="[[correct]]")]) == 1  # a good row gains
    got = conn.execute(
        "SELECT sample_index, answer, error, critique_text FROM samples ORDER BY 1"
    ).fetchall()
    assert got == [(0, "4", None, "[[correct]]"), (1, "5", None, None)]


def test_a_shard_that_fails_midway_lands_nothing(conn):
    with pytest.raises(sqlite3.OperationalError):
        land_shard(conn, [row(0), {"problem_id": "q1", "sample_index": 1, "no_such": 1}])
    assert conn.execute("SELECT COUNT(*) FROM samples").fetchone() == (0,)


def test_endpoints_check_their_urls_and_model():
    with pytest.raises(TTCConfigError, match="at least one base URL"):
        Endpoints((" ",), "m")
    with pytest.raises(TTCConfigError, match="twice"):
        Endpoints.parse("http://a/v1,http://a/v1", "m")
    with pytest.raises(TTCConfigError, match="served model's name"):
        Endpoints.parse("http://a/v1", "auto")


def test_endpoints_spread_questions_and_keep_each_on_one_server():
    replicas = Endpoints.parse("http://a/v1, http://b/v1, http://c/v1", "m", mode="completion")
    routes = [replicas.route(f"q{i}") for i in range(300)]
    assert routes == [replicas.route(f"q{i}") for i in range(300)]
    assert all(70 < routes.count(i) < 130 for i in range(3))
    backends = replicas.make()
    assert [b.model_id for b in backends] == ["m"] * 3
    assert all(b.needs_exemplars for b in backends)  # options reach every backend


class Unpicklable(FakeBackend):
    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()


def test_recipes_say_what_to_pass_when_a_backend_cannot_travel():
    with pytest.raises(TTCConfigError, match="cannot be sent to Ray workers.*function returning"):
        as_recipe(Unpicklable())
    with pytest.raises(TTCConfigError, match="returned int, not a Backend"):
        as_recipe(lambda: 3)
    with pytest.raises(TTCConfigError, match="Cannot build a pool on Ray from int"):
        as_recipe(3)
    recipe, probe = as_recipe(Unpicklable)  # a class is a factory: made in each worker
    assert recipe.model_id == probe.model_id == "fake"
    made = recipe.make()
    assert len(made) == 1 and made[0] is not probe


@pytest.mark.parametrize(
    ("option", "value"), [("k_max", 0), ("actors", 0), ("concurrency", 0), ("actor_cpus", -1)]
)
def test_bad_arguments_fail_before_ray_starts(tmp_path, option, value):
    task = load_task("rg:basic_arithmetic", size=2)
    options = {"k_max": 2, option: value}
    with pytest.raises(TTCConfigError, match=option):
        build_pool_on_ray(task, FakeBackend(), tmp_path / "p.sqlite", progress=False, **options)
    assert not (tmp_path / "p.sqlite").exists()


def test_without_ray_the_error_is_one_line_naming_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    monkeypatch.setitem(sys.modules, "ray.data", None)
    task = load_task("rg:basic_arithmetic", size=2)
    with pytest.raises(MissingExtra) as caught:
        build_pool_on_ray(task, FakeBackend(), tmp_path / "p.sqlite", k_max=2, progress=False)
    message = str(caught.value)
    assert "\n" not in message
    assert message == (
        "building a pool on Ray needs the 'ray' extra: pip install 'langgraph-ttc[ray]'"
    )


def test_importing_the_package_does_not_import_ray():
    code = (
        "import sys, langgraph_ttc.distributed as d; d.Endpoints; d.VLLMEngine; "
        "d.build_pool_on_ray; print(sorted(m for m in sys.modules if m.split('.')[0] == 'ray'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def parse(*argv: str):
    return build_parser().parse_args(
        ["curves", "--task", "rg:basic_arithmetic", "--out", "d", *argv]
    )


def test_the_cli_picks_the_builder_and_recipe_for_ray():
    assert _on_ray(parse()) == (None, None)
    builder, recipe = _on_ray(parse("--ray"))
    assert recipe == "local" and builder.keywords == {"address": None, "actors": 2}
    builder, recipe = _on_ray(
        parse(
            "--ray",
            "auto",
            "--actors",
            "8",
            "--base-url",
            "http://a/v1,http://b/v1",
            "--model",
            "q",
        )
    )
    assert builder.keywords == {"address": "auto", "actors": 8}
    assert recipe == Endpoints(("http://a/v1", "http://b/v1"), "q", {"mode": "chat"})
    builder, recipe = _on_ray(parse("--ray", "--base-url", "http://a/v1", "--model", "q"))
    assert recipe.func.__name__ == "backend_from_args"  # one server: made as without --ray
    builder, recipe = _on_ray(
        parse("--ray", "--vllm", "--model", "Qwen/Qwen3-8B", "--mode", "completion")
    )
    assert builder.func is on_vllm.build_pool_on_vllm
    assert recipe == VLLMEngine("Qwen/Qwen3-8B", chat=False)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--vllm", "--model", "m"), "add --ray"),
        (("--ray", "--vllm"), "Hugging Face id or path"),
        (("--ray", "--vllm", "--model", "m", "--base-url", "http://a/v1"), "no --base-url"),
    ],
)
def test_the_cli_refuses_vllm_without_what_it_needs(argv, message):
    with pytest.raises(TTCConfigError, match=message):
        _on_ray(parse(*argv))


# -- ray.data.llm ----------------------------------------------------------------------------
# Shapes from Ray's documentation, "Working with LLMs"
# (https://docs.ray.io/en/latest/data/working-with-llms.html) and the API page of
# ray.data.llm.build_processor: preprocess returns a row with ``messages`` (OpenAI chat
# dicts) and a per-row ``sampling_params`` dict (e.g. temperature, max_tokens), every column
# being carried over to postprocess, which reads ``generated_text``; the engine stage adds
# ``num_input_tokens`` and ``num_generated_tokens`` (vLLMOutputData in Ray's
# ray/llm/_internal/batch/stages/vllm_engine_stage.py). vLLM itself cannot run here (no GPU):
# these tests check the shaping, not an engine.
DOC_PREPROCESSED = {
    "messages": [
        {"role": "system", "content": "You are a bot that responds with haikus."},
        {"role": "user", "content": "Start of the haiku is: Complete this for me..."},
    ],
    "sampling_params": {"temperature": 0.3, "max_tokens": 250},
}


def test_request_rows_preprocess_to_the_documented_shape():
    messages = [SystemMessage("Be brief."), HumanMessage("What is 2 + 3?")]
    params = SamplingParams(temperature=0.3, max_tokens=250, stop=("\n\n",))
    rows = on_vllm.request_rows("q1", messages, [0, 5], params, seed=9)
    assert all(set(json.loads(r["request"])) == {"messages", "sampling_params"} for r in rows)
    first = on_vllm.preprocess(rows[0])
    assert set(DOC_PREPROCESSED) <= set(first)
    assert [set(m) for m in first["messages"]] == [set(m) for m in DOC_PREPROCESSED["messages"]]
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    sampling = first["sampling_params"]
    assert set(DOC_PREPROCESSED["sampling_params"]) <= set(sampling)
    assert (sampling["temperature"], sampling["max_tokens"], sampling["n"]) == (0.3, 250, 1)
    # Each sample carries the seed the single-process builder gives it.
    assert [on_vllm.preprocess(r)["sampling_params"]["seed"] for r in rows] == [
        sample_seed(9, "q1", 0),
        sample_seed(9, "q1", 5),
    ]
    assert {"problem_id", "sample_index", "purpose", "seed"} <= set(first)  # carried over


def test_a_base_model_gets_a_text_prompt_and_no_chat_template():
    rows = on_vllm.request_rows(
        "q", [HumanMessage("1+1?")], [0], SamplingParams(), seed=0, chat=False
    )
    assert isinstance(on_vllm.preprocess(rows[0])["prompt"], str)
    assert VLLMEngine("m", chat=False).config_kwargs(8)["chat_template_stage"] is False


def test_postprocess_reads_the_engine_output_fields():
    engine_row = {
        **on_vllm.preprocess(
            on_vllm.request_rows(
                "q", [HumanMessage("1+1?")], [3], SamplingParams(max_tokens=8), seed=0
            )[0]
        ),
        "prompt": "<rendered>",
        "generated_text": "The answer is 2.",
        "num_input_tokens": 17,
        "num_generated_tokens": 5,
        "generated_tokens": [1, 2, 3, 4, 5],
    }
    out = on_vllm.postprocess(engine_row)
    assert out == {
        "problem_id": "q",
        "sample_index": 3,
        "purpose": "generate",
        "seed": sample_seed(0, "q", 3),
        "text": "The answer is 2.",
        "prompt_tokens": 17,
        "completion_tokens": 5,
        "finish_reason": "stop",
    }


def test_the_processor_config_is_accepted_by_ray():
    llm = pytest.importorskip("ray.data.llm")
    config = llm.vLLMEngineProcessorConfig(
        **VLLMEngine("Qwen/Qwen3-0.6B", replicas=2, accelerator_type="L4").config_kwargs(48)
    )
    assert (config.batch_size, config.concurrency, config.accelerator_type) == (48, 2, "L4")
    assert config.engine_kwargs["enable_prefix_caching"] is True
    assert config.tokenize_stage == {"batch_size": 48}


def test_blocks_hold_whole_questions_of_one_size():
    wanted = {f"q{i}": [f"q{i}/{j}" for j in range(3 if i < 5 else 2)] for i in range(7)}
    groups = on_vllm.blocks_of_questions(wanted, target=7)
    for blocks in groups:
        size = len(blocks[0])
        assert all(len(b) <= size for b in blocks)
        for block in blocks:
            owners = [r.split("/")[0] for r in block]
            assert all(len(wanted[o]) == owners.count(o) for o in set(owners))
    assert sorted(r for blocks in groups for b in blocks for r in b) == sorted(
        r for rows in wanted.values() for r in rows
    )


def test_vllm_needs_vllm_and_refuses_what_it_cannot_give(tmp_path, monkeypatch):
    task = load_task("rg:basic_arithmetic", size=2)
    with pytest.raises(TTCConfigError, match="neither log-probabilities nor judge"):
        on_vllm.build_pool_on_vllm(
            task, VLLMEngine("m"), tmp_path / "p", k_max=2, verifier=object()
        )
    monkeypatch.setattr(on_vllm.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(
        MissingExtra, match=r"needs vLLM on the GPU nodes: pip install 'ray\[llm\]'"
    ):
        on_vllm.build_pool_on_vllm(task, VLLMEngine("m"), tmp_path / "p", k_max=2)


# -- Ray Serve --------------------------------------------------------------------------------
def test_deployment_options_autoscale_on_ongoing_requests_or_fix_the_replicas():
    from langgraph_ttc.distributed import deployment_options

    scaled = deployment_options(min_replicas=1, max_replicas=6, target_ongoing_requests=4)
    assert scaled["autoscaling_config"] == {
        "min_replicas": 1,
        "max_replicas": 6,
        "target_ongoing_requests": 4,
    }
    assert "num_replicas" not in scaled and scaled["name"] == "TTCServer"
    fixed = deployment_options(num_replicas=3)
    assert fixed["num_replicas"] == 3 and "autoscaling_config" not in fixed
    with pytest.raises(TTCConfigError, match="min_replicas <= max_replicas"):
        deployment_options(min_replicas=5, max_replicas=2)
    with pytest.raises(TTCConfigError, match="target_ongoing_requests"):
        deployment_options(target_ongoing_requests=64, max_ongoing_requests=8)
    with pytest.raises(TTCConfigError, match="num_replicas"):
        deployment_options(num_replicas=0)


def test_the_serve_app_builder_reads_numbers_given_as_text(monkeypatch):
    from langgraph_ttc.distributed import replicas

    seen = {}
    monkeypatch.setattr(replicas, "ttc_app", lambda **options: seen.update(options) or "app")
    assert replicas.app_builder({"backend": "local", "n": "8", "budget_calls": 16}) == "app"
    assert seen == {"backend": "local", "n": 8, "budget_calls": 16}


def test_a_replica_builds_the_serve_app_from_its_options():
    from langgraph_ttc.distributed import TTCServer

    app = TTCServer({"backend": "http://127.0.0.1:9/v1", "model": "m"}).__serve_build_asgi_app__()
    assert callable(app) and hasattr(app, "routes")  # a Starlette app, built in the replica


def test_a_library_error_under_rays_wrappers_comes_back_in_one_line():
    from langgraph_ttc.distributed.ray_pool import _ttc_cause
    from langgraph_ttc.errors import BackendError

    original = BackendError("20 samples failed in a row (last: HTTP 400).")
    wrapped = RuntimeError("UDF failed")
    wrapped.__cause__ = original
    assert _ttc_cause(wrapped) is original
    # Ray Data's RayTaskError(UserCodeException) may carry only the traceback text.
    text = RuntimeError(
        "ray::MapWorker.submit()\n  File x\nlanggraph_ttc.errors.BackendError: 20 samples "
        "failed in a row (last: HTTP 400).\n\nThe above exception was the direct cause"
    )
    again = _ttc_cause(text)
    assert type(again) is BackendError and str(again) == str(original)
    assert _ttc_cause(RuntimeError("something else")) is None
