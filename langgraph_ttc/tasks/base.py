"""What a task is: problems with references, few-shot exemplars, answer extraction and scoring."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage


@dataclass(frozen=True)
class Problem:
    """One question with its reference answer (``None`` when there is none)."""

    id: str
    question: str
    reference: str | None = None
    metadata: Mapping = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Exemplar:
    """A worked example shown before the question (few-shot); ``answer`` ends with the final answer."""

    question: str
    answer: str


class Task(ABC):
    """A verifiable task. Subclasses provide problems, exemplars, extraction and scoring.

    The prompt is a list of chat messages: an optional instruction, then each exemplar as a
    human/AI pair, then the question. Chat models take it as is; the embedded base model sees it
    rendered as a ``Q: ... A: ...`` transcript (see :mod:`langgraph_ttc.backends.transcript`).
    """

    name: str = "task"
    instruction: str | None = None
    exemplars: tuple[Exemplar, ...] = ()

    @abstractmethod
    def problems(self) -> Sequence[Problem]:
        """The task's problems, in a stable order."""

    @abstractmethod
    def extract_answer(self, text: str) -> str | None:
        """The final answer in a completion, normalised, or ``None`` if there is none."""

    @abstractmethod
    def score(self, problem: Problem, text: str) -> float:
        """Correctness of a completion against the problem's reference, in [0, 1]."""

    def messages(self, question: str) -> list[BaseMessage]:
        """The few-shot prompt for ``question`` as chat messages."""
        out: list[BaseMessage] = []
        if self.instruction:
            out.append(SystemMessage(self.instruction))
        for exemplar in self.exemplars:
            out += [HumanMessage(exemplar.question), AIMessage(exemplar.answer)]
        out.append(HumanMessage(question))
        return out

    def is_correct(self, problem: Problem, text: str) -> bool:
        return self.score(problem, text) >= 1.0 - 1e-9
