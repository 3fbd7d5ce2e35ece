"""Deterministic fakes for tests: replies are pure functions of (messages, seed).

Nothing here depends on call order or on Python's salted ``hash()``: the same messages and seed
give the same reply in every process, so tests over concurrent graphs are reproducible.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, convert_to_messages
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field

from langgraph_ttc.backends.base import Backend, Completion, Draw
from langgraph_ttc.testing import __all__ as _reexported

__all__ = list(_reexported)  # the package re-exports every fake: one list, the package's


def stable_uniform(*parts: object) -> float:
    """A number in [0, 1) determined by ``parts`` alone (stable across processes).

    Example:
        >>> stable_uniform("q1", 3) == stable_uniform("q1", 3)
        True
    """
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _last_text(messages: Sequence[BaseMessage]) -> str:
    return str(messages[-1].content) if messages else ""


ReplyFn = Callable[[Sequence[BaseMessage], "int | None"], str]


def _echo_reply(messages: Sequence[BaseMessage], seed: int | None) -> str:
    value = int(stable_uniform(_last_text(messages), seed) * 10)
    return f"Let me think. The answer is {value}."


class FakeBackend(Backend):
    """A backend whose reply is ``reply(messages, seed)``; counts tokens as words.

    Args:
        reply: pure function of (messages, seed) giving the completion text.
        honours_n: if False, one request returns one choice (like llama.cpp), so ``requests == n``.
        fail: optional pure predicate (messages, seed) -> True to make that sample fail.
        model_id: name recorded in results.
        confidence: optional pure function (messages, seed, text) -> the probability of every
            token's top choice in ``(0, 1)``; with it, samples carry log-probabilities when asked
            (one token per word; the top-k spread the rest of the mass evenly), so confidence
            methods can be tested with a known confidence per sample.

    Example:
        >>> from langgraph_ttc import SamplingParams
        >>> backend = FakeBackend(reply=lambda messages, seed: "The answer is 4.")
        >>> backend.sample([("human", "2+2?")], n=2, params=SamplingParams()).completions[0].text
        'The answer is 4.'
    """

    def __init__(
        self,
        reply: ReplyFn | None = None,
        *,
        honours_n: bool = True,
        fail: Callable[[Sequence[BaseMessage], int | None], bool] | None = None,
        model_id: str = "fake",
        confidence: Callable[[Sequence[BaseMessage], int | None, str], float] | None = None,
    ) -> None:
        self.reply = reply or _echo_reply
        self.honours_n = honours_n
        self.fail = fail
        self.model_id = model_id
        self.confidence = confidence
        self.gives_logprobs = self.stops_traces = self.cancels = confidence is not None
        self.seen: list[int] = []  # sample counts of each request, for assertions on batching

    def count_prompt_tokens(self, messages: Sequence[BaseMessage]) -> int:
        return sum(len(str(m.content).split()) for m in messages) + len(messages)

    def sample(self, messages, n, params, *, timeout=None, stop_trace=None, until=None) -> Draw:
        messages = convert_to_messages(messages)
        prompt_tokens = self.count_prompt_tokens(messages)
        completions = []
        for i in range(n):
            completions.append(
                self._one(messages, params, params.seed_for(i), prompt_tokens, stop_trace)
            )
            if until is not None and until(completions):
                break  # the rest are "cancelled" before they start: nothing generated
        requests = 1 if self.honours_n else len(completions)
        self.seen.append(n)
        return Draw(
            completions=tuple(completions),
            requests=requests,
            prompt_tokens=prompt_tokens * requests,
            completion_tokens=sum(c.completion_tokens for c in completions),
            extra={"cancelled": n - len(completions)} if until is not None else {},
        )

    def _one(self, messages, params, seed, prompt_tokens, stop_trace) -> Completion:
        if self.fail is not None and self.fail(messages, seed):
            return Completion(text="", seed=seed, error="injected failure")
        text = self.reply(messages, seed)
        words = text.split()
        if len(words) > params.max_tokens:
            words = words[: params.max_tokens]
            text = " ".join(words)
        finish = "stop"
        logprobs = top = None
        if self.confidence is not None and (params.logprobs or params.top_logprobs):
            p = min(max(float(self.confidence(messages, seed, text)), 1e-6), 1 - 1e-6)
            k = max(params.top_logprobs, 1)
            row = (math.log(p), *[math.log((1 - p) / max(k - 1, 1))] * (k - 1))
            logprobs, top = [], []
            watch = stop_trace() if stop_trace is not None else None
            for index in range(len(words)):
                logprobs.append(row[0])
                top.append(row)
                if watch is not None and watch(row[0], row):
                    words, finish = words[: index + 1], "stopped"
                    text = " ".join(words)
                    break
        return Completion(
            text=text,
            finish_reason=finish,
            prompt_tokens=prompt_tokens,
            completion_tokens=len(words),
            seed=seed,
            logprobs=None if logprobs is None else tuple(logprobs),
            top_logprobs=None if top is None else tuple(top),
        )

    async def asample(
        self, messages, n, params, *, timeout=None, stop_trace=None, until=None
    ) -> Draw:
        # Pure: nothing to await.
        return self.sample(messages, n, params, timeout=timeout, stop_trace=stop_trace, until=until)


Script = Callable[[Sequence[BaseMessage], "int | None"], "AIMessage | str"]


def _size(message: BaseMessage) -> int:
    """Characters of a message's content and tool calls."""
    content = message.content if isinstance(message.content, str) else json.dumps(message.content)
    calls = getattr(message, "tool_calls", None)
    return len(content) + (len(json.dumps(calls, default=str)) if calls else 0)


def _tokens(chars: int) -> int:
    return -(-chars // 4)  # a token is about four characters of English


class FakeToolCallingModel(BaseChatModel):
    """A deterministic chat model with tool calling, for tests and offline examples.

    Its reply is ``script(messages, seed)``: an ``AIMessage`` (with ``tool_calls``, say) or a
    string. The seed is the call's ``seed`` keyword (``model.bind(seed=3)``, ``bind_tools(...,
    seed=3)``, or a model setting an agent middleware passes), else the ``seed`` field, so the
    reply depends on nothing but the messages and the seed. ``bind_tools`` binds the tools in
    OpenAI's format, as a real provider would; ``usage_metadata`` counts a token per four
    characters of each message's content and tool calls (at least one per reply). ``seeds``
    lists the seed of every call made, for assertions.

    Example:
        >>> def script(messages, seed):
        ...     return AIMessage("", tool_calls=[{"name": "add", "args": {"a": seed}, "id": "c1"}])
        >>> model = FakeToolCallingModel(script=script)
        >>> model.bind_tools([]).invoke("Add.", seed=2).tool_calls[0]["args"]
        {'a': 2}
        >>> FakeToolCallingModel().invoke("2+2?", seed=1).content
        'Let me think. The answer is 4.'
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    script: Any = None
    """``(messages, seed) -> AIMessage | str``; default: an echo that names a number."""
    model_name: str = "fake-tool-calling"
    seed: int | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    seeds: list = Field(default_factory=list, exclude=True)

    @property
    def _llm_type(self) -> str:
        return "fake-tool-calling"

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any):
        """The model with ``tools`` bound (OpenAI format), like a provider's ``bind_tools``."""
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=formatted, **kwargs)

    def _generate(self, messages, stop=None, run_manager=None, **kwargs: Any) -> ChatResult:
        seed = kwargs.get("seed", self.seed)
        self.seeds.append(seed)
        reply = (self.script or _echo_reply)(messages, seed)
        message = reply if isinstance(reply, AIMessage) else AIMessage(str(reply))
        prompt = sum(_tokens(_size(m)) for m in messages)
        completion = max(_tokens(_size(message)), 1)
        message = message.model_copy(
            update={
                "usage_metadata": {
                    "input_tokens": prompt,
                    "output_tokens": completion,
                    "total_tokens": prompt + completion,
                },
                "response_metadata": {"model_name": self.model_name, "finish_reason": "stop"},
            }
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


@dataclass(frozen=True)
class NoisyOracle:
    """Answers each known question correctly with a fixed probability, wrong answers otherwise.

    ``questions`` maps a question to ``(correct_answer, p_correct)``. Wrong answers are drawn from
    ``wrong_answers`` (default: correct+1 .. correct+3) so votes can split. Critique prompts
    (containing ``[[correct]]``) get a verdict that is right with probability ``critique_accuracy``.
    Use it as ``FakeBackend(reply=NoisyOracle(...))``; per-question accuracy is then exactly
    ``p_correct`` in expectation, so estimators can be checked against the binomial.

    Example:
        >>> oracle = NoisyOracle({"1+1?": ("2", 1.0)})
        >>> oracle([("human", "1+1?")], seed=0)
        'The answer is 2.'
    """

    questions: Mapping[str, tuple[str, float]]
    wrong_answers: Mapping[str, Sequence[str]] | None = None
    critique_accuracy: float = 0.8

    def __call__(self, messages, seed) -> str:
        text = _last_text(convert_to_messages(messages))
        if "[[correct]]" in text:
            return self._critique(text, seed)
        question = self._find_question(text)
        if question is None:
            return "I do not know."
        answer, p_correct = self.questions[question]
        u = stable_uniform(question, seed)
        if u < p_correct:
            return f"The answer is {answer}."
        wrong = self._wrong(question, answer)
        pick = wrong[int(stable_uniform("wrong", question, seed) * len(wrong))]
        return f"The answer is {pick}."

    def _find_question(self, text: str) -> str | None:
        # Longest match first so "1+1?" does not match inside "11+1?".
        for question in sorted(self.questions, key=len, reverse=True):
            if question in text:
                return question
        return None

    def _wrong(self, question: str, answer: str) -> Sequence[str]:
        if self.wrong_answers and question in self.wrong_answers:
            return self.wrong_answers[question]
        try:
            base = int(answer)
            return [str(base + d) for d in (1, 2, 3)]
        except ValueError:
            return [answer + "x", answer + "y"]

    def _critique(self, text: str, seed) -> str:
        question = self._find_question(text)
        match = re.search(r"\[Answer\]:(.*?)Instruction:", text, re.S)
        claimed = match.group(1) if match else ""
        is_right = question is not None and re.search(
            rf"(?<![\d.]){re.escape(self.questions[question][0])}(?![\d])", claimed
        )
        truthful = stable_uniform("critique", text, seed) < self.critique_accuracy
        says_right = bool(is_right) == truthful
        return "Checking the steps. " + ("[[correct]]" if says_right else "[[wrong]]")


@dataclass(frozen=True)
class AggregationOracle(NoisyOracle):
    r"""A :class:`NoisyOracle` that reads candidates the way a model that aggregates well does.

    Asked to select (a GenSelect prompt, ``Judgment: [IDX]``), it names a listed solution that
    carries the right answer with probability ``select_accuracy`` (a seeded random one
    otherwise, or when none is right). Asked to write one solution from several (an RSA
    prompt), it answers right with probability ``aggregate_accuracy`` when a shown candidate is
    right, and with the question's own ``p_correct`` when none is. Questions, critiques and
    everything else are answered as by :class:`NoisyOracle`.

    Example:
        >>> oracle = AggregationOracle({"1+1?": ("2", 0.0)}, select_accuracy=1.0)
        >>> prompt = ("Judgment: [IDX]\nProblem: 1+1?\nSolution 0:\nThe answer is 3.\n\n"
        ...           "Solution 1:\nThe answer is 2.")
        >>> oracle([("human", prompt)], seed=0)
        'Comparing the solutions. Judgment: 1'
    """

    select_accuracy: float = 0.9
    aggregate_accuracy: float = 0.9

    def __call__(self, messages, seed) -> str:
        text = _last_text(convert_to_messages(messages))
        question = self._find_question(text)
        if question is None:
            return super().__call__(messages, seed)
        right = f"The answer is {self.questions[question][0]}."
        if "Judgment: [IDX]" in text:
            solutions = re.findall(
                r"Solution (\d+):\n(.*?)(?=\n\nSolution \d+:|\n\nEnd |$)", text, re.S
            )
            good = [int(i) for i, body in solutions if right in body]
            u = stable_uniform("select", text, seed)
            if good and u < self.select_accuracy:
                pick = good[0]
            else:
                pick = int(stable_uniform("pick", text, seed) * max(len(solutions), 1))
            return f"Comparing the solutions. Judgment: {pick}"
        if "andidate solution" in text:  # an RSA aggregation prompt
            shown = text.split("Problem:")[0]
            p = self.aggregate_accuracy if right in shown else self.questions[question][1]
            if stable_uniform("aggregate", text, seed) < p:
                return right
            wrong = self._wrong(question, self.questions[question][0])
            return f"The answer is {wrong[int(stable_uniform('w', text, seed) * len(wrong))]}."
        return super().__call__(messages, seed)


Think = Callable[[Sequence[BaseMessage], "int | None", "int | None"], tuple[int, str]]


class FakeReasoningBackend(Backend):
    """A reasoning model whose thinking length and answer are scripted: ``think(messages, seed,
    thinking_budget) -> (thinking tokens, answer text)``, pure; the thinking is that many
    words, cut at the budget (the backend honours ``thinking_budget`` exactly, as vLLM's
    ``thinking_token_budget`` does). Tokens are words. ``budgets`` lists the thinking budget of
    every request, for assertions.

    Example:
        >>> from langgraph_ttc import SamplingParams
        >>> backend = FakeReasoningBackend(lambda m, seed, budget: (40, "The answer is 4."))
        >>> c = backend.sample([("human", "2+2?")], 1, SamplingParams(thinking_budget=8)).completions[0]
        >>> c.text, c.thinking_tokens, c.completion_tokens
        ('The answer is 4.', 8, 12)
    """

    reasoning = True
    takes_thinking_budget = True

    def __init__(self, think: Think, *, model_id: str = "fake-reasoning") -> None:
        self.think = think
        self.model_id = model_id
        self.honours_n = True
        self.budgets: list[int | None] = []

    def count_prompt_tokens(self, messages: Sequence[BaseMessage]) -> int:
        return sum(len(str(m.content).split()) for m in messages) + len(messages)

    def sample(self, messages, n, params, *, timeout=None, stop_trace=None, until=None) -> Draw:
        messages = convert_to_messages(messages)
        budget = params.thinking_budget
        self.budgets.append(budget)
        prompt_tokens = self.count_prompt_tokens(messages)
        completions = []
        for i in range(n):
            seed = params.seed_for(i)
            thought, answer = self.think(messages, seed, budget)
            thought = thought if budget is None else min(thought, budget)
            words = answer.split()[: params.max_tokens]
            completions.append(
                Completion(
                    text=" ".join(words),
                    finish_reason="stop",
                    prompt_tokens=prompt_tokens,
                    completion_tokens=thought + len(words),
                    seed=seed,
                    thinking=" ".join(["hmm"] * thought),
                    thinking_tokens=thought,
                )
            )
        return Draw(
            completions=tuple(completions),
            requests=1,
            prompt_tokens=prompt_tokens,
            completion_tokens=sum(c.completion_tokens for c in completions),
        )

    async def asample(
        self, messages, n, params, *, timeout=None, stop_trace=None, until=None
    ) -> Draw:
        return self.sample(messages, n, params, timeout=timeout)


@dataclass(frozen=True)
class ThinkingOracle:
    """A reasoning model that answers each known question right only when it may think long
    enough: ``questions`` maps a question to ``(answer, tokens it needs to think)``. With a
    thinking budget of at least that, a sample is right with probability ``p_thought``; cut
    shorter, with ``p_rushed``; wrong answers are answer+1..+3. It thinks ``needed`` tokens plus
    a stable jitter of up to a quarter more, or the budget if smaller. Use it as
    ``FakeReasoningBackend(ThinkingOracle(...))``.

    Example:
        >>> oracle = ThinkingOracle({"7+5?": ("12", 256)}, p_thought=1.0, p_rushed=0.0)
        >>> oracle([("human", "7+5?")], 0, 512)[1], oracle([("human", "7+5?")], 0, 64)[1]
        ('The answer is 12.', 'The answer is 13.')
    """

    questions: Mapping[str, tuple[str, int]]
    p_thought: float = 0.9
    p_rushed: float = 0.1

    def __call__(self, messages, seed, budget) -> tuple[int, str]:
        text = _last_text(convert_to_messages(messages))
        question = next(
            (q for q in sorted(self.questions, key=len, reverse=True) if q in text), None
        )
        if question is None:
            return 1, "I do not know."
        answer, needed = self.questions[question]
        natural = needed + int(stable_uniform("length", question, seed) * (needed // 4 + 1))
        thought = natural if budget is None else min(natural, budget)
        p_right = self.p_thought if thought >= needed else self.p_rushed
        if stable_uniform(question, seed) < p_right:
            return thought, f"The answer is {answer}."
        wrong = int(answer) + 1 + int(stable_uniform("wrong", question, seed) * 3)
        return thought, f"The answer is {wrong}."
