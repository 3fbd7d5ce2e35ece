"""Step segmentation: how a solution splits into steps, and how one step is cut from a model's
continuation of a partial solution.

A search grows solutions one step at a time. A step request shows the model the prompt plus the
steps so far as a trailing AI message (a partial answer, see
:func:`~langgraph_ttc.backends.transcript.render_transcript`) and keeps only the first step of
what comes back. Four formats:

- ``blank_line`` (default for chat models): steps separated by a blank line.
- ``newline`` (default for base models prompted as a transcript, where a blank line ends the
  turn): one step per line.
- ``regex:<pattern>``: steps separated by whatever ``pattern`` matches.
- ``step_label``: each step starts with a label, ``"Step 1: ..."``.

Whitespace separators are cut client-side by default: transcript renderers (and some chat
templates) strip the trailing separator from a partial answer, so the continuation begins with
it and a stop string equal to the separator would stop at once. ``stop_at_delimiter=True`` sends
the separator as a stop string instead (fewer wasted tokens) for endpoints that keep the partial
answer verbatim. Labels are kept in the prefix, so ``step_label`` always stops at the next label.

Example:
    >>> seg = Segmentation.parse("newline")
    >>> seg.split("3 + 4 = 7.\\nThe answer is 7.")
    ['3 + 4 = 7.', 'The answer is 7.']
    >>> seg.cut("\\nThe answer is 7.\\n")
    StepCut(step='The answer is 7.', more=False)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal, NamedTuple

from langgraph_ttc.backends.transcript import TRANSCRIPT_STOPS
from langgraph_ttc.errors import TTCConfigError

__all__ = ["FINAL_ANSWER_PATTERN", "Segmentation", "StepCut", "split_sentences"]

Kind = Literal["auto", "blank_line", "newline", "regex", "step_label"]

# A step stating the final answer ends the solution (the exemplars' "The answer is X." form).
FINAL_ANSWER_PATTERN = r"(?i)\bthe\s+(?:final\s+)?answer\s+is\b|\\boxed\s*\{"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")


class StepCut(NamedTuple):
    """The first step of a continuation, and whether the model wrote more after it."""

    step: str
    more: bool


@dataclass(frozen=True)
class Segmentation:
    """A step format. Build one with :meth:`parse` or the class methods.

    Attributes:
        kind: ``auto`` (resolved per backend by :meth:`resolve`), ``blank_line``, ``newline``,
            ``regex`` or ``step_label``.
        delimiter: joins steps into a solution.
        pattern: regex separating steps (``regex`` and ``step_label``).
        label: the label template of ``step_label``, with ``{k}`` for the step number.
        final_pattern: regex that marks a step stating the final answer (ends the solution).
        stop_at_delimiter: send a whitespace separator as a stop string (see module docs).
    """

    kind: Kind = "auto"
    delimiter: str = "\n\n"
    pattern: str | None = None
    label: str | None = None
    final_pattern: str = FINAL_ANSWER_PATTERN
    stop_at_delimiter: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("auto", "blank_line", "newline", "regex", "step_label"):
            raise TTCConfigError(
                f"Unknown segmentation {self.kind!r}: use 'blank_line', 'newline', "
                "'step_label', 'regex:<pattern>' or 'auto'."
            )
        for name in ("pattern", "final_pattern"):
            value = getattr(self, name)
            if value is not None:
                try:
                    re.compile(value)
                except re.error as exc:
                    raise TTCConfigError(
                        f"Segmentation {name} {value!r} is not a regex: {exc}"
                    ) from None
        if self.kind == "step_label" and (not self.label or "{k}" not in self.label):
            raise TTCConfigError("step_label needs a label with {k}, e.g. 'Step {k}:'.")

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def blank_line(cls) -> Segmentation:
        return cls("blank_line", "\n\n", r"\n[ \t]*\n\s*")

    @classmethod
    def newline(cls) -> Segmentation:
        return cls("newline", "\n", r"\n\s*")

    @classmethod
    def regex(cls, pattern: str, delimiter: str = "\n") -> Segmentation:
        return cls("regex", delimiter, pattern)

    @classmethod
    def step_label(cls, label: str = "Step {k}:") -> Segmentation:
        head, _, tail = label.partition("{k}")
        pattern = r"\s*" + re.escape(head) + r"\d+" + re.escape(tail) + r"\s*"
        return cls("step_label", "\n", pattern, label)

    @classmethod
    def parse(cls, value: str | Segmentation) -> Segmentation:
        """A segmentation from a name: ``auto``, ``blank_line``, ``newline``, ``step_label``,
        ``step_label:<label with {k}>`` or ``regex:<pattern>``.

        Example:
            >>> Segmentation.parse("step_label").split("Step 1: a.\\nStep 2: b.")
            ['a.', 'b.']
        """
        if isinstance(value, Segmentation):
            return value
        if not isinstance(value, str):
            raise TTCConfigError(f"segmentation must be a name or a Segmentation; got {value!r}.")
        name, _, arg = value.partition(":")
        if name == "auto" and not arg:
            return cls("auto")
        if name == "blank_line" and not arg:
            return cls.blank_line()
        if name == "newline" and not arg:
            return cls.newline()
        if name == "step_label":
            return cls.step_label(arg or "Step {k}:")
        if name == "regex" and arg:
            return cls.regex(arg)
        raise TTCConfigError(
            f"Unknown segmentation {value!r}: use 'blank_line', 'newline', 'step_label', "
            "'step_label:<label with {k}>', 'regex:<pattern>' or 'auto'."
        )

    def resolve(self, backend: object | None) -> Segmentation:
        """``auto`` becomes ``newline`` for transcript-prompted base models (a blank line ends
        their turn) and ``blank_line`` otherwise; other kinds are returned unchanged."""
        if self.kind != "auto":
            return self
        base = Segmentation.newline() if getattr(backend, "needs_exemplars", False) else None
        base = base or Segmentation.blank_line()
        return replace(
            base, final_pattern=self.final_pattern, stop_at_delimiter=self.stop_at_delimiter
        )

    # -- splitting and joining ----------------------------------------------------------
    @property
    def _separator(self) -> re.Pattern:
        if self.kind == "auto":
            raise TTCConfigError("Resolve an 'auto' segmentation with .resolve(backend) first.")
        return re.compile(self.pattern or re.escape(self.delimiter))

    def split(self, text: str) -> list[str]:
        """The non-empty steps of a full solution."""
        return [s.strip() for s in self._separator.split(text or "") if s and s.strip()]

    def join(self, steps: Sequence[str]) -> str:
        """A solution from its steps (labelled for ``step_label``)."""
        if self.kind == "step_label":
            return self.delimiter.join(
                f"{self.label.format(k=i + 1)} {s.strip()}" for i, s in enumerate(steps)
            )
        return self.delimiter.join(s.strip() for s in steps)

    def prefix(self, steps: Sequence[str]) -> str:
        """The partial answer a step request continues: the steps so far, then the separator
        (or the next step's label)."""
        if not steps:
            return ""
        if self.kind == "step_label":
            return self.join(steps) + self.delimiter + self.label.format(k=len(steps) + 1)
        return self.join(steps) + self.delimiter

    def cut(self, continuation: str) -> StepCut:
        """The first step of a continuation: leading separators are skipped, the step runs to
        the next separator; ``more`` tells whether anything follows it."""
        text = (continuation or "").lstrip()
        match = self._separator.search(text)
        while match is not None and match.start() == 0:  # a label that opens the continuation
            text = text[match.end() :]
            match = self._separator.search(text)
        if match is None:
            return StepCut(text.strip(), False)
        return StepCut(text[: match.start()].strip(), bool(text[match.end() :].strip()))

    def is_final(self, step: str) -> bool:
        """Whether ``step`` states the final answer."""
        return bool(re.search(self.final_pattern, step or ""))

    def stops(self, backend: object | None) -> tuple[str, ...]:
        """Stop strings for a step request to ``backend`` (base models keep transcript stops)."""
        own: tuple[str, ...] = ()
        if self.kind == "step_label":
            own = (self.delimiter + self.label.partition("{k}")[0].rstrip(),)
        elif self.stop_at_delimiter and self.kind in ("blank_line", "newline"):
            own = (self.delimiter,)
        if getattr(backend, "needs_exemplars", False):
            return (*TRANSCRIPT_STOPS, *own) if own else ()
        return own

    def uses_step_stops(self, backend: object | None) -> bool:
        """Whether a step request stops at the step separator (so a stop is not an end of turn)."""
        return self.kind == "step_label" or (
            self.stop_at_delimiter and self.kind in ("blank_line", "newline")
        )

    def format_solution(self, text: str) -> str:
        """An exemplar answer rewritten in this format, one sentence per step (a base model
        copies the shape of its exemplars). Text already in the format is returned unchanged.

        Example:
            >>> Segmentation.newline().format_solution("2 + 5 = 7. The answer is 7.")
            '2 + 5 = 7.\\nThe answer is 7.'
        """
        if len(self.split(text)) > 1:
            return text
        sentences = split_sentences(text)
        return self.join(sentences) if len(sentences) > 1 else text


def split_sentences(text: str) -> list[str]:
    """Sentences of a paragraph (a period followed by whitespace ends one; "2.5" does not).

    Example:
        >>> split_sentences("2.5 + 1 = 3.5. The answer is 3.5.")
        ['2.5 + 1 = 3.5.', 'The answer is 3.5.']
    """
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]
