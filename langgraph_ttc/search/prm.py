"""A process reward model behind vLLM's pooling endpoint, and how its outputs become scores.

:class:`PoolingPRM` sends partial solutions to ``POST /pooling`` and reads one row per step tag.
What a row means depends on how the model is served, so the reward mapping is one documented
transform per output kind (:func:`step_reward`), chosen from the row's shape or by the
``output`` option, never from the value's range (a range test is not monotone: it would keep a
raw 1.0 as 1.0 but squash 1.01 to 0.73 and flip step rankings):

- ``"probabilities"``: a row of class probabilities ``[p_bad, p_good]``; the good column as is.
- ``"logits"``: a row of class logits; the good class's softmax over the row (for two classes
  sigmoid(l_good - l_bad)).
- ``"probability"``: one number, a probability; as is.
- ``"logit"``: one number, a logit; its sigmoid.
- ``"auto"`` (default): by shape, following vLLM's default poolers: a row of two or more numbers
  is ``"probabilities"`` (the ``STEP`` pooler of PRMs such as Qwen2.5-Math-PRM applies a softmax
  over the returned tokens), a single number is ``"logit"`` (reward heads are returned without an
  activation). Serve a model otherwise and say so with ``output=``.

A value a kind cannot hold (a probability outside [0, 1], a row of the wrong length) makes the
row unreadable: that path gets the scorer's ``fallback_score`` with ``parsed=False``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any, Literal

import httpx

from langgraph_ttc.backends.base import Completion, Draw
from langgraph_ttc.budget import Meter
from langgraph_ttc.calls import Steps, Work
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.search.scorers import ProcessScorer
from langgraph_ttc.search.segmentation import Segmentation
from langgraph_ttc.verifiers import Verdict

logger = logging.getLogger(__name__)

__all__ = ["OUTPUT_KINDS", "PoolingPRM", "step_reward"]

Output = Literal["auto", "probabilities", "logits", "probability", "logit"]
OUTPUT_KINDS: tuple[str, ...] = ("auto", "probabilities", "logits", "probability", "logit")
_ROW_KINDS = ("probabilities", "logits")


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)  # no overflow for very negative x
    return z / (1.0 + z)


def _probability(value: float, output: str) -> float:
    if not 0.0 <= value <= 1.0:
        other = "logits" if output == "probabilities" else "logit"
        raise ValueError(
            f"{value} is not a probability; if the PRM returns logits, pass output={other!r}"
        )
    return value


def step_reward(row: Any, output: Output = "auto", positive_index: int = 1) -> float:
    """One step's score in [0, 1] from one row of a pooling reply (see the module docstring).

    Args:
        row: a number, or a list of numbers (one per class; a one-element list is a number).
        output: the kind of output; ``"auto"`` decides from the row's shape.
        positive_index: the "good" class's column in a row of two or more.

    Example:
        >>> step_reward([0.2, 0.8]), round(step_reward([-1.0, 0.5], "logits"), 3)
        (0.8, 0.818)
        >>> round(step_reward(1.0), 3), round(step_reward(1.01), 3), step_reward(0.7, "probability")
        (0.731, 0.733, 0.7)
    """
    if output not in OUTPUT_KINDS:
        raise TTCConfigError(f"output must be one of {', '.join(OUTPUT_KINDS)}; got {output!r}.")
    if isinstance(row, list) and len(row) == 1:
        row = row[0]
    if isinstance(row, list):
        values = [float(v) for v in row]
        kind = "probabilities" if output == "auto" else output
        if kind not in _ROW_KINDS:
            raise ValueError(f"a row of {len(values)} numbers, but output={output!r} is one number")
        if not 0 <= positive_index < len(values):
            raise ValueError(f"no column {positive_index} in a row of {len(values)}")
        if kind == "probabilities":
            for value in values:  # every column must be a probability, not just the good one
                _probability(value, kind)
            return values[positive_index]
        top = max(values)  # softmax over the row, shifted so exp cannot overflow
        weights = [math.exp(v - top) for v in values]
        return weights[positive_index] / sum(weights)
    if isinstance(row, (dict, str, bytes)) or row is None:
        raise ValueError(f"a pooling row must be a number or a list; got {type(row).__name__}")
    value = float(row)
    kind = "logit" if output == "auto" else output
    if kind in _ROW_KINDS:
        raise ValueError(f"one number per step, but output={output!r} expects a row of classes")
    if kind == "probability":
        return _probability(value, kind)
    return _sigmoid(value)


class PoolingPRM(ProcessScorer):
    """A process reward model behind vLLM's pooling endpoint (``POST /pooling``).

    Serve a PRM with per-step pooling, e.g. Qwen2.5-Math-PRM (its step tag is ``<extra_0>``)::

        vllm serve Qwen/Qwen2.5-Math-PRM-7B --runner pooling

    or a Math-Shepherd-style model with ``--override-pooler-config '{"pooling_type": "STEP",
    "step_tag_id": ..., "returned_token_ids": [good, bad]}'``. Each partial solution is sent as
    one string in the request's ``input`` list (one request per round)::

        {"model": "...", "input": ["<question>\\n\\nstep 1<extra_0>step 2<extra_0>", ...]}

    and each item of the reply's ``data`` (``{"index": i, "object": "pooling", "data": rows}``)
    holds one row per step tag, mapped to a score by :func:`step_reward` according to
    ``output``: by default a row ``[p_bad, p_good]`` is read as probabilities
    (``positive_index`` picks the "good" column) and a single number as a logit (sigmoid). Each
    scored path counts as one call (``purpose="verify"``); the request's
    ``usage.prompt_tokens`` is recorded. A failed request or an unreadable or missing row gives
    ``fallback_score`` with ``parsed=False``.

    Args:
        base_url: the server root, e.g. ``"http://127.0.0.1:8000"`` (a trailing ``/v1`` is dropped).
        model: the served model name.
        step_tag: appended after every step.
        positive_index: the "good" column of a row of probabilities or logits.
        output: what a row holds: ``"auto"`` (by shape), ``"probabilities"``, ``"logits"``,
            ``"probability"`` or ``"logit"`` (see :mod:`langgraph_ttc.search.prm`).
        template: how a partial solution is written; ``{question}`` and ``{steps}`` (steps
            each followed by ``step_tag``).
        api_key: sent as a bearer token when given.
        timeout_s: per request.
        transport: an ``httpx`` transport (tests pass ``httpx.MockTransport``).

    Example:
        >>> prm = PoolingPRM("http://127.0.0.1:8000/v1", "Qwen/Qwen2.5-Math-PRM-7B")
        >>> prm.render("1 + 1?", ["1 + 1 = 2.", "The answer is 2."])
        '1 + 1?\\n\\n1 + 1 = 2.<extra_0>The answer is 2.<extra_0>'
    """

    uses_model = True
    calls_per_step = 1

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        step_tag: str = "<extra_0>",
        positive_index: int = 1,
        output: Output = "auto",
        template: str = "{question}\n\n{steps}",
        api_key: str | None = None,
        timeout_s: float = 60.0,
        fallback_score: float = 0.5,
        transport: Any = None,
        segmentation: str | Segmentation = "auto",
    ) -> None:
        if "{steps}" not in template:
            raise TTCConfigError("PoolingPRM template must contain {steps}.")
        if output not in OUTPUT_KINDS:
            raise TTCConfigError(
                f"PoolingPRM output must be one of {', '.join(OUTPUT_KINDS)}; got {output!r}."
            )
        root = base_url.rstrip("/")
        self.url = (root[: -len("/v1")] if root.endswith("/v1") else root) + "/pooling"
        self.model = model
        self.step_tag = step_tag
        self.positive_index = positive_index
        self.output = output
        self.template = template
        self._api_key = api_key
        self.timeout_s = timeout_s
        self.fallback_score = fallback_score
        self.transport = transport
        self.segmentation = segmentation

    def render(self, question: str, steps: Sequence[str]) -> str:
        body = "".join(s.strip() + self.step_tag for s in steps)
        return self.template.replace("{steps}", body).replace("{question}", question)

    def step_scores(self, rows: Any) -> list[float]:
        """Per-step scores from one item's ``data`` (one row per step; see :func:`step_reward`)."""
        if not isinstance(rows, list):
            raise ValueError(f"pooling data is not a list: {type(rows).__name__}")
        return [step_reward(row, self.output, self.positive_index) for row in rows]

    def path_steps(self, question, steps, *, backend=None, prompt=None) -> Steps[Verdict]:
        (verdict,) = yield from self.paths_steps(question, [steps])
        return verdict

    def paths_steps(self, question, paths, *, backend=None, prompt=None) -> Steps[list[Verdict]]:
        """All paths of a round in one request (a blocking or an async HTTP call)."""
        inputs = [self.render(question, p) for p in paths]
        (verdicts,) = yield [Work(lambda meter: self._post(meter, inputs), self._apost(inputs))]
        return verdicts

    def _post(self, meter: Meter, inputs: list[str]) -> list[Verdict]:
        count, payload, headers = self._request(meter, inputs)
        if count == 0:
            return [self._fallback("budget exhausted") for _ in inputs]
        started = time.perf_counter()
        try:
            with httpx.Client(transport=self.transport, timeout=self.timeout_s) as client:
                response = client.post(self.url, json=payload, headers=headers)
                response.raise_for_status()
                body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            return self._failed(meter, inputs, count, exc, started)
        return self._verdicts(meter, inputs, count, body, started)

    def _apost(self, inputs: list[str]):
        async def post(meter: Meter) -> list[Verdict]:
            count, payload, headers = self._request(meter, inputs)
            if count == 0:
                return [self._fallback("budget exhausted") for _ in inputs]
            started = time.perf_counter()
            try:
                async with httpx.AsyncClient(
                    transport=self.transport, timeout=self.timeout_s
                ) as client:
                    response = await client.post(self.url, json=payload, headers=headers)
                    response.raise_for_status()
                    body = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                return self._failed(meter, inputs, count, exc, started)
            return self._verdicts(meter, inputs, count, body, started)

        return post

    def _request(self, meter: Meter, inputs: list[str]) -> tuple[int, dict, dict]:
        """How many paths the budget allows, the request body and headers."""
        allowed = meter.remaining().max_calls
        count = len(inputs) if allowed is None else min(len(inputs), allowed)
        payload = {"model": self.model, "input": inputs[:count]}
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        return count, payload, headers

    def _failed(self, meter, inputs, count, exc, started) -> list[Verdict]:
        error = f"{type(exc).__name__}: {str(exc)[:300]}"
        logger.warning("PRM request to %s failed: %s", self.url, error)
        self._record(meter, count, 0, time.perf_counter() - started, error)
        return [self._fallback(f"PRM request failed: {error}") for _ in inputs]

    def _verdicts(self, meter, inputs, count, body, started) -> list[Verdict]:
        try:
            items = sorted(body["data"], key=lambda item: item.get("index", 0))
        except (KeyError, TypeError, AttributeError) as exc:
            return self._failed(meter, inputs, count, exc, started)
        usage = body.get("usage") or {}
        self._record(
            meter, count, int(usage.get("prompt_tokens") or 0), time.perf_counter() - started
        )
        verdicts = [self._fallback("budget exhausted") for _ in inputs]
        for i, item in enumerate(items[:count]):
            try:
                scores = self.step_scores(item.get("data"))
            except (ValueError, TypeError, IndexError) as exc:
                verdicts[i] = self._fallback(f"unreadable PRM row: {exc}")
                continue
            if not scores:
                verdicts[i] = self._fallback("the PRM returned no step scores")
                continue
            verdicts[i] = Verdict(
                score=scores[-1], step_scores=tuple(scores), rationale=f"PRM {self.model}"
            )
        return verdicts

    def _record(
        self, meter: Meter, count: int, prompt_tokens: int, seconds: float, error: str | None = None
    ) -> None:
        completions = tuple(
            Completion(text="", latency_s=seconds, error=error) for _ in range(count)
        )
        meter.record(
            "verify", Draw(completions=completions, requests=1, prompt_tokens=prompt_tokens)
        )

    def _fallback(self, rationale: str) -> Verdict:
        return Verdict(score=self.fallback_score, rationale=rationale, parsed=False)
