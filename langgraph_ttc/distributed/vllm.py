"""Pools drawn by vLLM engines inside Ray Data (``ray.data.llm``): offline batches on GPU nodes,
no server in between.

Every sample is one row of a Ray Dataset, shaped as Ray's LLM processor expects it (see
"Working with LLMs", https://docs.ray.io/en/latest/data/working-with-llms.html, and
``ray.data.llm.build_processor``): ``messages`` in OpenAI chat form (or a ``prompt`` for a base
model prompted with the few-shot transcript), and ``sampling_params`` with the sample's own
seed, ``sample_seed(seed, problem, index)`` as in :func:`~langgraph_ttc.scaling.build_pool`.
The engine stage returns ``generated_text``, ``num_input_tokens`` and ``num_generated_tokens``
beside the columns it was given; the driver extracts, scores and lands each row in the pool.
The Filter-Vote critiques are a second pass over the answered samples.

One question, one engine: the rows of a question are contiguous and one block holds whole
questions, the engine stage's ``batch_size`` is the rows of one block, so the samples of a
question go to one vLLM replica in one batch and its prefix cache (on by default here) computes
the prompt once. Questions are grouped by how many samples they miss, so this holds on resume
too.

Not here: verifier scores and token confidences (the processor returns neither log-probabilities
nor a way to run a judge); build those pools with :func:`build_pool_on_ray` against
``vllm serve`` replicas (:class:`~langgraph_ttc.distributed.Endpoints`).

Example:
    >>> from langchain_core.messages import HumanMessage, SystemMessage
    >>> rows = request_rows("q1", [SystemMessage("Be brief."), HumanMessage("2+2?")], [0, 1],
    ...                     SamplingParams(max_tokens=64), seed=0)
    >>> [r["sample_index"] for r in rows], preprocess(rows[0])["sampling_params"]["max_tokens"]
    ([0, 1], 64)
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from langchain_core.messages import BaseMessage

from langgraph_ttc.backends.base import SamplingParams
from langgraph_ttc.backends.transcript import message_text, render_transcript
from langgraph_ttc.distributed._ray import ray_session
from langgraph_ttc.distributed.ray_pool import _local_options, land_shard
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.extras import MissingExtra, require
from langgraph_ttc.prompts import critique_messages
from langgraph_ttc.scaling._pool_builder import (
    _critique_seed,
    _params_dict,
    _plan,
    _prompt_hash,
    sample_seed,
)
from langgraph_ttc.scaling._pool_schema import connect
from langgraph_ttc.scaling.pool import (
    PoolBuildReport,
    _exclusive_lock,
    _finish_build,
    _prepare_build,
)
from langgraph_ttc.tasks.base import Problem, Task
from langgraph_ttc.verifiers import parse_verdict

logger = logging.getLogger(__name__)

__all__ = [
    "VLLMEngine",
    "build_pool_on_vllm",
    "chat_messages",
    "postprocess",
    "preprocess",
    "request_rows",
    "vllm_sampling_params",
]

FEATURE = "building a pool with vLLM in Ray Data"
# Rows per engine batch to aim for when a question has few samples (Ray's default is 32).
TARGET_BATCH_ROWS = 64


@dataclass(frozen=True)
class VLLMEngine:
    """vLLM engines run by ``ray.data.llm`` (``vLLMEngineProcessorConfig``).

    Args:
        model_source: a Hugging Face id or a path/URI the GPU nodes can read.
        engine_kwargs: ``vllm.AsyncEngineArgs`` (prefix caching is on unless you say otherwise).
        replicas: engine replicas (Ray's ``concurrency``), each on its own GPU(s).
        accelerator_type: e.g. ``"L4"``, ``"A100"`` (None: any GPU).
        chat: apply the model's chat template (instruct models); False prompts a base model
            with the few-shot transcript, as the text-completion backends do.
        model_id: the name the pool records (default ``model_source``).

    Example:
        >>> kwargs = VLLMEngine("Qwen/Qwen3-8B").config_kwargs(batch_size=64)
        >>> kwargs["engine_kwargs"], kwargs["tokenize_stage"]
        ({'enable_prefix_caching': True}, {'batch_size': 64})
    """

    model_source: str
    engine_kwargs: Mapping[str, Any] = field(default_factory=dict, hash=False)
    replicas: int = 1
    accelerator_type: str | None = None
    chat: bool = True
    model_id: str | None = None

    def __post_init__(self) -> None:
        if not self.model_source or not isinstance(self.model_source, str):
            raise TTCConfigError("VLLMEngine needs model_source, e.g. 'Qwen/Qwen3-8B'.")
        if self.replicas < 1:
            raise TTCConfigError(f"VLLMEngine replicas must be >= 1; got {self.replicas}.")

    @property
    def name(self) -> str:
        return self.model_id or self.model_source

    def config_kwargs(self, batch_size: int) -> dict:
        """The arguments of ``vLLMEngineProcessorConfig`` (pure, tested without vLLM).

        Every stage batches ``batch_size`` rows (one block of whole questions), so no batch
        holds part of a question and a question never spans two engine replicas.
        """
        stage = {"batch_size": batch_size}
        kwargs: dict[str, Any] = {
            "model_source": self.model_source,
            "engine_kwargs": {"enable_prefix_caching": True, **dict(self.engine_kwargs)},
            "concurrency": self.replicas,
            "batch_size": batch_size,
            # A base model's prompt is already the few-shot transcript: no chat template.
            "chat_template_stage": dict(stage) if self.chat else False,
            "tokenize_stage": dict(stage),
            "detokenize_stage": dict(stage),
        }
        if self.accelerator_type:
            kwargs["accelerator_type"] = self.accelerator_type
        return kwargs


_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


def chat_messages(messages: Sequence[BaseMessage]) -> list[dict]:
    """LangChain messages as the OpenAI chat list the processor's chat-template stage reads.

    Example:
        >>> from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
        >>> chat_messages([SystemMessage("s"), HumanMessage("q"), AIMessage("a")])
        [{'role': 'system', 'content': 's'}, {'role': 'user', 'content': 'q'}, {'role': 'assistant', 'content': 'a'}]
    """
    out = []
    for message in messages:
        role = _ROLES.get(message.type)
        if role is None:
            raise TTCConfigError(f"A {message.type!r} message cannot go to a vLLM engine prompt.")
        out.append({"role": role, "content": message_text(message)})
    return out


def vllm_sampling_params(params: SamplingParams, seed: int) -> dict:
    """``vllm.SamplingParams`` keyword arguments for one sample (``n=1``, its own seed).

    Example:
        >>> vllm_sampling_params(SamplingParams(stop=("\\n\\n",)), 7)
        {'temperature': 0.7, 'top_p': 0.95, 'max_tokens': 256, 'seed': 7, 'n': 1, 'stop': ['\\n\\n']}
    """
    out: dict[str, Any] = {
        "temperature": params.temperature,
        "top_p": params.top_p,
        "max_tokens": params.max_tokens,
        "seed": seed,
        "n": 1,
    }
    if params.stop:
        out["stop"] = list(params.stop)
    if params.top_k is not None:
        out["top_k"] = params.top_k
    if params.min_p is not None:
        out["min_p"] = params.min_p
    return out


def request_rows(
    problem_id: str,
    messages: Sequence[BaseMessage],
    indices: Sequence[int],
    params: SamplingParams,
    *,
    seed: int,
    chat: bool = True,
    purpose: str = "generate",
) -> list[dict]:
    """The rows of one question's samples (``purpose="generate"``) or of one sample's critique
    (``"critique"``, one index), before :func:`preprocess`. Nested values travel as JSON, so
    every block of the dataset has the same flat schema.
    """
    rows = []
    prompt = chat_messages(messages) if chat else render_transcript(messages)
    for index in indices:
        own = sample_seed(seed, problem_id, index)
        request_seed = own if purpose == "generate" else _critique_seed(own)
        rows.append(
            {
                "problem_id": problem_id,
                "sample_index": int(index),
                "purpose": purpose,
                "seed": request_seed,
                "request": json.dumps(
                    {
                        ("messages" if chat else "prompt"): prompt,
                        "sampling_params": vllm_sampling_params(params, request_seed),
                    }
                ),
            }
        )
    return rows


def preprocess(row: dict) -> dict:
    """The processor's ``preprocess``: ``messages`` (or ``prompt``) and ``sampling_params``,
    the other columns carried over (Ray keeps every column until ``postprocess``).

    Example:
        >>> out = preprocess({"problem_id": "q", "request": '{"prompt": "Q: 1+1?", '
        ...                   '"sampling_params": {"seed": 3}}'})
        >>> out["prompt"], out["sampling_params"], out["problem_id"]
        ('Q: 1+1?', {'seed': 3}, 'q')
    """
    request = json.loads(row["request"])
    return {**{k: v for k, v in row.items() if k != "request"}, **request}


def postprocess(row: dict) -> dict:
    """The processor's ``postprocess``: the engine's output fields (``generated_text``,
    ``num_input_tokens``, ``num_generated_tokens``) under the pool's names, flat.

    Example:
        >>> postprocess({"problem_id": "q", "sample_index": 2, "purpose": "generate", "seed": 5,
        ...              "generated_text": "The answer is 4.", "num_input_tokens": 30,
        ...              "num_generated_tokens": 6, "sampling_params": {"max_tokens": 6}})["finish_reason"]
        'length'
    """
    generated = int(row.get("num_generated_tokens") or 0)
    limit = (row.get("sampling_params") or {}).get("max_tokens")
    return {
        "problem_id": str(row["problem_id"]),
        "sample_index": int(row["sample_index"]),
        "purpose": str(row["purpose"]),
        "seed": int(row["seed"]),
        "text": str(row.get("generated_text") or ""),
        "prompt_tokens": int(row.get("num_input_tokens") or 0),
        "completion_tokens": generated,
        # The processor reports no finish reason: a sample that used every token was cut off.
        "finish_reason": "length" if limit is not None and generated >= int(limit) else "stop",
    }


def sample_row(task: Task, problem: Problem, out: dict, params, model_id, prompt_hash) -> dict:
    """The pool row of one drawn sample, as the single-process builder writes it."""
    text = out["text"]
    answer = task.extract_answer(text)
    score = float(task.score(problem, text))
    return {
        "problem_id": problem.id,
        "sample_index": out["sample_index"],
        "seed": out["seed"],
        "params": json.dumps({**_params_dict(params), "seed": out["seed"]}),
        "prompt_hash": prompt_hash,
        "text": text,
        "answer": answer,
        "score": score,
        "correct": int(score >= 1.0 - 1e-9),
        "prompt_tokens": out["prompt_tokens"],
        "completion_tokens": out["completion_tokens"],
        "cached_tokens": 0,
        "latency_s": 0.0,
        "finish_reason": out["finish_reason"],
        "model_id": model_id,
        "error": None,
        "created_at": time.time(),
        "confidence": None,
        "thinking_tokens": 0,
        "truncated_in_thinking": 0,
    }


def blocks_of_questions(rows_by_question: Mapping[str, list[dict]], target: int) -> list[list]:
    """Groups of blocks, one group per number of rows a question has; a block holds as many
    whole questions (their rows contiguous) as fit in ``target`` rows, at least one. Every
    block of a group but its last has the same size: that group's batch size.

    Example:
        >>> rows = {"a": [1, 2], "b": [3, 4], "c": [5, 6], "d": [7]}
        >>> blocks_of_questions(rows, target=4)
        [[[1, 2, 3, 4], [5, 6]], [[7]]]
    """
    by_size: dict[int, list[str]] = {}
    for pid, rows in rows_by_question.items():
        if rows:
            by_size.setdefault(len(rows), []).append(pid)
    groups = []
    for size, pids in by_size.items():
        per_block = max(1, target // size)
        groups.append(
            [
                [row for pid in pids[start : start + per_block] for row in rows_by_question[pid]]
                for start in range(0, len(pids), per_block)
            ]
        )
    return groups


def require_vllm() -> Any:
    """``ray.data.llm``, after checking that vLLM can run here (it needs GPUs and ``vllm``)."""
    llm = require("ray.data.llm", "ray", FEATURE)
    if importlib.util.find_spec("vllm") is None:
        raise MissingExtra(
            f"{FEATURE} needs vLLM on the GPU nodes: pip install 'ray[llm]' (no GPU or vLLM "
            "here? build against `vllm serve` replicas with build_pool_on_ray and Endpoints)"
        )
    return llm


def build_pool_on_vllm(
    task: Task,
    engine: VLLMEngine,
    path: str | os.PathLike,
    *,
    k_max: int,
    params: SamplingParams | None = None,
    seed: int = 0,
    critique: bool = False,
    verifier=None,
    confidence=None,
    address: str | None = None,
    progress: bool = True,
    concurrency: int | None = None,
) -> PoolBuildReport:
    """Draw the missing samples (and Filter-Vote critiques) of the pool at ``path`` with vLLM
    engines in Ray Data (see the module doc); the pool is the one ``build_pool`` writes.

    ``concurrency`` is accepted for the signature of ``build_pool`` and unused: the engines
    batch and schedule the requests themselves.

    Raises:
        MissingExtra: Ray, ``ray.data.llm`` or vLLM is missing.
        TTCConfigError: a verifier or confidence was asked for (not available here), or the
            pool was built with another setup.

    Example:
        Eight questions' samples on the engines of a Ray cluster with GPUs::

            from langgraph_ttc.distributed import VLLMEngine, build_pool_on_vllm
            build_pool_on_vllm(task, VLLMEngine("Qwen/Qwen3-8B"), "pool.sqlite", k_max=64)

        What vLLM in Ray Data cannot give is refused before anything starts:

        >>> from langgraph_ttc.confidence import ConfidenceSpec
        >>> from langgraph_ttc.tasks import load_task
        >>> build_pool_on_vllm(load_task("rg:basic_arithmetic", size=2), VLLMEngine("m"),
        ...                    "p.sqlite", k_max=4, confidence=ConfidenceSpec())
        Traceback (most recent call last):
        ...
        langgraph_ttc.errors.TTCConfigError: vLLM in Ray Data returns neither log-probabilities nor judge calls: build pools with a verifier or confidence with build_pool_on_ray against `vllm serve` replicas (Endpoints).
    """
    if verifier is not None or confidence is not None:
        raise TTCConfigError(
            "vLLM in Ray Data returns neither log-probabilities nor judge calls: build pools "
            "with a verifier or confidence with build_pool_on_ray against `vllm serve` "
            "replicas (Endpoints)."
        )
    if k_max < 1:
        raise TTCConfigError(f"k_max must be >= 1; got {k_max}.")
    llm = require_vllm()
    params = params or SamplingParams()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    like = SimpleNamespace(needs_exemplars=not engine.chat)  # what critique prompts ask of it
    totals = {"drawn": 0, "critiqued": 0, "verified": 0, "failed": 0}
    with _exclusive_lock(path):
        started = time.perf_counter()
        conn = connect(path)
        interrupted = False
        meta: dict = {}
        try:
            meta, critique, problems, prompts = _prepare_build(
                conn, path, task, engine.name, params, seed, critique, None, None, k_max
            )
            by_id = {p.id: p for p in problems}
            with ray_session(address, FEATURE, **_local_options()) as ray:
                jobs = _plan(conn, problems, k_max, critique, False)
                wanted: dict[str, list[dict]] = {}
                for job in jobs:
                    if job.draw:
                        rows = request_rows(
                            job.problem.id,
                            prompts[job.problem.id],
                            [job.index],
                            params,
                            seed=seed,
                            chat=engine.chat,
                        )
                        wanted.setdefault(job.problem.id, []).extend(rows)
                for out in _run(ray, llm, engine, wanted, progress, "samples"):
                    problem = by_id[out["problem_id"]]
                    row = sample_row(
                        task, problem, out, params, engine.name, _prompt_hash(prompts[problem.id])
                    )
                    land_shard(conn, [row])
                    totals["drawn"] += 1
                if critique:
                    totals["critiqued"] = _critiques(
                        ray, llm, engine, conn, by_id, like, params, seed, progress
                    )
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            seconds = time.perf_counter() - started
            _finish_build(conn, path, meta, seconds, interrupted)
            conn.close()
    return PoolBuildReport(str(path), **totals, seconds=seconds)


def _critiques(ray, llm, engine, conn, by_id, like, params, seed, progress) -> int:
    wanted: dict[str, list[dict]] = {}
    for pid, index, text in conn.execute(
        "SELECT problem_id, sample_index, text FROM samples WHERE error IS NULL AND "
        "answer IS NOT NULL AND critique_text IS NULL"
    ):
        messages = critique_messages(like, by_id[pid].question, text or "")
        rows = request_rows(
            pid, messages, [index], params, seed=seed, chat=engine.chat, purpose="critique"
        )
        wanted.setdefault(f"{pid}\x1f{index}", []).extend(rows)
    done = 0
    for out in _run(ray, llm, engine, wanted, progress, "critiques"):
        verdict = parse_verdict(out["text"])
        conn.execute(
            "UPDATE samples SET critique_text = ?, critique_verdict = ?, critique_calls = 1, "
            "critique_prompt_tokens = ?, critique_completion_tokens = ?, critique_error = NULL "
            "WHERE problem_id = ? AND sample_index = ?",
            (
                out["text"],
                None if verdict is None else float(verdict >= 0.5),
                out["prompt_tokens"],
                out["completion_tokens"],
                out["problem_id"],
                out["sample_index"],
            ),
        )
        done += 1
    return done


def _run(ray, llm, engine: VLLMEngine, wanted: Mapping[str, list[dict]], progress, what):
    """Run request rows through vLLM processors, one per group of equal-sized questions, one
    block (one engine batch) per run of whole questions; yield the post-processed rows."""
    pyarrow = require("pyarrow", "ray", FEATURE)
    build = getattr(llm, "build_processor", None) or llm.build_llm_processor
    total = sum(len(rows) for rows in wanted.values())
    seen = 0
    for blocks in blocks_of_questions(wanted, TARGET_BATCH_ROWS):
        # from_arrow makes one block per table: the blocks stay exactly as cut.
        dataset = ray.data.from_arrow([pyarrow.Table.from_pylist(block) for block in blocks])
        config = llm.vLLMEngineProcessorConfig(**engine.config_kwargs(batch_size=len(blocks[0])))
        processor = build(config, preprocess=preprocess, postprocess=postprocess)
        for row in processor(dataset).iter_rows():
            seen += 1
            if progress and seen % 100 == 0:
                print(f"vllm {what}: {seen}/{total}", file=sys.stderr)
            yield row
