"""Answer extraction and equivalence: pure functions, no model calls.

A completion ends with its final answer, written the way the few-shot exemplars show it
("... The answer is 42."). :func:`extract_answer` finds it, :func:`normalize_answer` puts it in a
canonical form so that votes over "1,000", "1000." and "+1000" agree, and :func:`answers_equal`
also accepts mathematically equal forms (``\\frac{1}{2}`` vs ``0.5``) via ``math-verify`` when
it is installed (the ``eval`` extra); without it, equal strings and equal numbers still match.

``math-verify`` bounds its own run time with ``signal.alarm``, which only works in the main
thread. Nodes may run in worker threads, so we call it with its timeouts disabled and bound the
work instead: it is only tried on short, math-looking strings, and every error is swallowed.
"""

from __future__ import annotations

import logging
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

logger = logging.getLogger(__name__)

__all__ = ["answers_equal", "extract_answer", "leading_number", "normalize_answer"]

MAX_MATH_VERIFY_CHARS = 200  # Longer strings skip math-verify (its parser can be slow on them).

_ANSWER_IS = re.compile(r"\bthe\s+(?:final\s+)?answer\s+is\b[\s:]*", re.IGNORECASE)
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
_NUMERIC = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")
_WORD = re.compile(r"[A-Za-z]{2,}")
_NUMBER_WITH_UNITS = re.compile(r"\$?\s*(-?[\d,]*\.?\d+)\s*[^\W\d]*(?:\s+[^\W\d]+)*\s*", re.UNICODE)


def extract_answer(text: str, *, multiline: bool = False) -> str | None:
    """The final answer in a completion, cleaned but not normalised; ``None`` if there is none.

    Tried in order: the last "The answer is X" (X runs to the end of its sentence, or to the end
    of the text when ``multiline``), the last ``\\boxed{...}`` (balanced braces), the last number.
    Markdown emphasis, ``$`` signs and a trailing period are stripped.

    Args:
        text: the completion.
        multiline: the answer may span lines (grids, lists): take everything after the last
            "The answer is".

    Example:
        >>> extract_answer("3 + 4 = 7. The answer is **7**.")
        '7'
        >>> extract_answer(r"So $x = \\boxed{\\frac{1}{2}}$")
        '\\\\frac{1}{2}'
        >>> extract_answer("I got 12 apples and 1,500 pears")
        '1,500'
        >>> extract_answer("no idea") is None
        True
    """
    if not text:
        return None
    matches = list(_ANSWER_IS.finditer(text))
    if matches:
        rest = text[matches[-1].end() :]
        answer = _clean(_answer_span(rest, multiline=multiline))
        if answer:
            return answer
    boxed = _last_boxed(text)
    if boxed is not None and boxed.strip():
        return boxed.strip()
    numbers = _NUMBER.findall(text)
    return numbers[-1] if numbers else None


def _answer_span(rest: str, *, multiline: bool) -> str:
    if multiline:
        return rest.strip()
    line = rest.strip().split("\n", 1)[0]
    boxed = _last_boxed(line)
    if boxed is not None:
        return boxed
    end = _SENTENCE_END.search(line)
    return line[: end.start()] if end else line


def _last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` with balanced braces (``None`` if absent/unbalanced)."""
    if "\\" not in text:  # no LaTeX command at all (the usual reply): no regex search
        return None
    starts = [m.end() for m in _BOXED.finditer(text)]
    for start in reversed(starts):
        depth = 1
        for i in range(start, len(text)):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    return text[start:i]
    return None


def _clean(answer: str) -> str:
    """Strip markdown, dollar signs, quotes and trailing punctuation around an answer."""
    if answer.isalnum():  # nothing to strip (the usual answer, e.g. "36")
        return answer
    previous = None
    answer = answer.strip()
    while answer != previous:
        previous = answer
        answer = answer.strip().rstrip(".!;,").strip()
        for left, right in (("**", "**"), ("__", "__"), ("`", "`"), ("$", "$"), ("\\(", "\\)")):
            if answer.startswith(left) and answer.endswith(right) and len(answer) > 2 * len(left):
                answer = answer[len(left) : -len(right)]
        answer = answer.strip("*`$\"'")
    return answer.strip()


def normalize_answer(answer: str, *, case_sensitive: bool = False) -> str:
    """A canonical form of an answer, for exact comparison and voting.

    Strips surrounding space, markdown, ``$`` and a trailing period; collapses inner whitespace.
    Numbers lose thousands separators, a leading ``+``, leading zeros and trailing decimal zeros
    (``"2.0"`` -> ``"2"``, ``"-0"`` -> ``"0"``). Other answers are lower-cased unless
    ``case_sensitive`` (some tasks, e.g. word sorting, score case).

    Example:
        >>> [normalize_answer(s) for s in ["1,234.50", "+007", "-0", " Paris. ", "$2.0$"]]
        ['1234.5', '7', '0', 'paris', '2']
    """
    if (
        isinstance(answer, str)
        and answer.isascii()
        and answer.isdigit()
        and (answer[0] != "0" or len(answer) == 1)
    ):
        return answer  # already canonical (the usual vote key): skip the Decimal round trip
    text = " ".join(_clean(str(answer)).split())
    number = _canonical_number(text)
    if number is not None:
        return number
    return text if case_sensitive else text.lower()


def _canonical_number(text: str) -> str | None:
    compact = text.replace(" ", "")
    if _THOUSANDS.fullmatch(compact):
        compact = compact.replace(",", "")
    if not _NUMERIC.fullmatch(compact):
        return None
    try:
        value = Decimal(compact)
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        return None
    if value == 0:
        return "0"
    out = format(value.normalize(), "f")
    return out


def answers_equal(prediction: str | None, reference: str | None) -> bool:
    """Whether two answers agree: equal after normalisation, or mathematically equal.

    A number followed by unit words ("7 apples") matches a purely numeric reference.
    The math check (``math-verify``) treats ``reference`` as the gold answer and is only tried
    when both strings are short and look like maths (digits, LaTeX, single-letter variables), so
    words are never compared as products of symbols. It never raises.

    Example:
        >>> answers_equal("1,000", "1000.0"), answers_equal(r"\\frac{1}{2}", "0.5")
        (True, True)
        >>> answers_equal("abc", "cab"), answers_equal(None, "1"), answers_equal("7 apples", "7")
        (False, False, True)
    """
    if prediction is None or reference is None:
        return False
    a, b = normalize_answer(prediction), normalize_answer(reference)
    if not a or not b:
        return False
    if a == b:
        return True
    if _canonical_number(b) is not None and leading_number(a) == b:
        return True  # "7 apples" for a numeric reference 7
    if not (_looks_mathematical(a) and _looks_mathematical(b)):
        return False
    return _math_equal(a, b)


def leading_number(answer: str) -> str | None:
    """The number of an answer that is one number plus unit words, normalised; else ``None``.

    Example:
        >>> leading_number("1,200 apples"), leading_number("$7.50"), leading_number("3 cats and 2 dogs")
        ('1200', '7.5', None)
    """
    match = _NUMBER_WITH_UNITS.fullmatch(_clean(str(answer)))
    return None if match is None else _canonical_number(match.group(1))


def _looks_mathematical(text: str) -> bool:
    if len(text) > MAX_MATH_VERIFY_CHARS:
        return False
    bare = _LATEX_COMMAND.sub(" ", text)
    has_math = bool(re.search(r"\d", text)) or bare != text
    return has_math and not _WORD.search(bare)


class _DropTimeoutWarning(logging.Filter):
    """math-verify warns once that timeouts are off; we turned them off on purpose (see module doc)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Timeout is disabled" not in record.getMessage()


@lru_cache(maxsize=4096)
def _math_equal(prediction: str, reference: str) -> bool:
    try:
        from math_verify import parse, verify
    except ImportError:  # optional (the eval extra): strings and numbers were compared already
        return False
    for name in ("math_verify.parser", "math_verify.grader"):
        logging.getLogger(name).addFilter(_DROP_TIMEOUT_WARNING)  # idempotent
    try:
        gold = parse(_as_latex(reference), parsing_timeout=None)
        target = parse(_as_latex(prediction), parsing_timeout=None)
        if not gold or not target:
            return False
        return bool(verify(gold, target, timeout_seconds=None))
    except BaseException as exc:  # noqa: BLE001 - math-verify raises TimeoutException(BaseException)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        logger.debug("math-verify failed on %r vs %r: %r", prediction, reference, exc)
        return False


_DROP_TIMEOUT_WARNING = _DropTimeoutWarning()


def _as_latex(text: str) -> str:
    return text if "$" in text or "\\boxed" in text else f"${text}$"
