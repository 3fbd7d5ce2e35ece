"""Default prompting of the embedded base model: accuracy of prompt variants on simple questions.

When no task is given, a base model sees generic few-shot exemplars (``GENERIC_EXEMPLARS``) as a
``Q: ... / A: ...`` transcript. This script measures variants of that prompt (how many exemplars,
what kind, the answer format, the stop sequences, the temperature) on a held-out set of 60 simple
questions written below with their answers: one- and two-digit sums, differences and products,
capital cities and word questions. The README's own questions ("What is 7 + 5?", "What is
2 + 2?") are deliberately not in the set, and no exemplar is a held-out question.

For each variant and question it draws ``--samples`` samples with fixed seeds and reports the
single-sample accuracy (mean over all samples), majority@k (a plurality vote over the k samples,
ties broken towards the answer seen first; no answer never wins) and, with ``--greedy``, the
accuracy of the greedy (temperature 0) answer; then each variant's paired difference from the
first one named, with a 95% bootstrap interval over questions. ``--set confirm`` runs a second
held-out set, to check the variant chosen on the first without the flattery of selection.

Run (about 2-4 min per variant on two CPU cores)::

    TTC_THREADS=1 python benchmarks/embedded_prompting.py --samples 8 --greedy \
        --out runs/embedded_prompting.json

``--kinds`` keeps some kinds of question only, and ``--ask "QUESTION=ANSWER"`` (repeatable) adds
questions of your own, e.g. the README's first command measured over several seeds::

    TTC_THREADS=1 python benchmarks/embedded_prompting.py --variants current_default \
        --set confirm --kinds capital --samples 8
    TTC_THREADS=1 python benchmarks/embedded_prompting.py --variants current_default \
        --kinds none --ask "What is the capital of Canada?=Ottawa" --samples 8 --seeds 12

This is a 270M base model: read the numbers as what a new user's first command can expect.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from langgraph_ttc.backends.base import SamplingParams
from langgraph_ttc.backends.transcript import TRANSCRIPT_STOPS
from langgraph_ttc.parsing import extract_answer, normalize_answer
from langgraph_ttc.prompts import GENERIC_EXEMPLARS

# Held-out questions with their answers. Never the README's "7 + 5" or "2 + 2" (nor 5 + 7), and
# none equal to an exemplar of any variant below.
QUESTIONS: tuple[tuple[str, str, str], ...] = (
    # kind, question, answer
    ("add1", "What is 3 + 4?", "7"),
    ("add1", "What is 6 + 2?", "8"),
    ("add1", "What is 5 + 3?", "8"),
    ("add1", "What is 8 + 1?", "9"),
    ("add1", "What is 4 + 5?", "9"),
    ("add1", "What is 9 + 6?", "15"),
    ("add1", "What is 8 + 7?", "15"),
    ("add1", "What is 6 + 6?", "12"),
    ("add1", "What is 9 + 3?", "12"),
    ("add1", "What is 5 + 8?", "13"),
    ("sub1", "What is 9 - 4?", "5"),
    ("sub1", "What is 8 - 6?", "2"),
    ("sub1", "What is 7 - 3?", "4"),
    ("sub1", "What is 6 - 5?", "1"),
    ("sub1", "What is 9 - 7?", "2"),
    ("sub1", "What is 5 - 2?", "3"),
    ("sub1", "What is 8 - 1?", "7"),
    ("sub1", "What is 4 - 3?", "1"),
    ("mul1", "What is 3 * 4?", "12"),
    ("mul1", "What is 2 * 5?", "10"),
    ("mul1", "What is 6 * 3?", "18"),
    ("mul1", "What is 7 * 2?", "14"),
    ("mul1", "What is 4 * 4?", "16"),
    ("mul1", "What is 5 * 5?", "25"),
    ("mul1", "What is 8 * 3?", "24"),
    ("mul1", "What is 9 * 2?", "18"),
    ("add2", "What is 14 + 23?", "37"),
    ("add2", "What is 35 + 12?", "47"),
    ("add2", "What is 21 + 46?", "67"),
    ("add2", "What is 18 + 17?", "35"),
    ("add2", "What is 52 + 29?", "81"),
    ("add2", "What is 40 + 33?", "73"),
    ("add2", "What is 27 + 15?", "42"),
    ("add2", "What is 63 + 24?", "87"),
    ("sub2", "What is 45 - 12?", "33"),
    ("sub2", "What is 38 - 15?", "23"),
    ("sub2", "What is 70 - 25?", "45"),
    ("sub2", "What is 91 - 40?", "51"),
    ("sub2", "What is 56 - 19?", "37"),
    ("sub2", "What is 83 - 47?", "36"),
    ("mul2", "What is 12 * 3?", "36"),
    ("mul2", "What is 11 * 5?", "55"),
    ("mul2", "What is 15 * 4?", "60"),
    ("mul2", "What is 20 * 7?", "140"),
    ("capital", "What is the capital of Germany?", "Berlin"),
    ("capital", "What is the capital of Italy?", "Rome"),
    ("capital", "What is the capital of Japan?", "Tokyo"),
    ("capital", "What is the capital of Spain?", "Madrid"),
    ("capital", "What is the capital of England?", "London"),
    ("capital", "What is the capital of Russia?", "Moscow"),
    ("capital", "What is the capital of Egypt?", "Cairo"),
    ("capital", "What is the capital of Canada?", "Ottawa"),
    ("word", "How many days are in a week?", "7"),
    ("word", "How many legs does a dog have?", "4"),
    ("word", "What color is the sky on a clear day?", "blue"),
    ("word", "How many hours are in a day?", "24"),
    ("word", "What is the opposite of hot?", "cold"),
    ("word", "How many months are in a year?", "12"),
    ("word", "What is the plural of mouse?", "mice"),
    ("word", "How many sides does a triangle have?", "3"),
)

# A second held-out set of the same kinds, for an unbiased before/after of the variant chosen on
# QUESTIONS (choosing the best of several variants on one set flatters it on that set).
CONFIRM_QUESTIONS: tuple[tuple[str, str, str], ...] = (
    ("add1", "What is 2 + 7?", "9"),
    ("add1", "What is 4 + 3?", "7"),
    ("add1", "What is 6 + 1?", "7"),
    ("add1", "What is 5 + 4?", "9"),
    ("add1", "What is 3 + 8?", "11"),
    ("add1", "What is 9 + 9?", "18"),
    ("add1", "What is 7 + 6?", "13"),
    ("add1", "What is 8 + 4?", "12"),
    ("add1", "What is 2 + 6?", "8"),
    ("add1", "What is 6 + 9?", "15"),
    ("sub1", "What is 7 - 4?", "3"),
    ("sub1", "What is 9 - 5?", "4"),
    ("sub1", "What is 6 - 2?", "4"),
    ("sub1", "What is 8 - 7?", "1"),
    ("sub1", "What is 5 - 3?", "2"),
    ("sub1", "What is 9 - 1?", "8"),
    ("sub1", "What is 7 - 6?", "1"),
    ("sub1", "What is 6 - 4?", "2"),
    ("mul1", "What is 2 * 3?", "6"),
    ("mul1", "What is 4 * 5?", "20"),
    ("mul1", "What is 3 * 3?", "9"),
    ("mul1", "What is 6 * 2?", "12"),
    ("mul1", "What is 7 * 4?", "28"),
    ("mul1", "What is 8 * 2?", "16"),
    ("mul1", "What is 9 * 3?", "27"),
    ("mul1", "What is 5 * 4?", "20"),
    ("add2", "What is 13 + 25?", "38"),
    ("add2", "What is 31 + 16?", "47"),
    ("add2", "What is 22 + 34?", "56"),
    ("add2", "What is 45 + 21?", "66"),
    ("add2", "What is 17 + 19?", "36"),
    ("add2", "What is 56 + 32?", "88"),
    ("add2", "What is 28 + 14?", "42"),
    ("add2", "What is 61 + 27?", "88"),
    ("sub2", "What is 48 - 13?", "35"),
    ("sub2", "What is 67 - 22?", "45"),
    ("sub2", "What is 90 - 30?", "60"),
    ("sub2", "What is 75 - 28?", "47"),
    ("sub2", "What is 52 - 17?", "35"),
    ("sub2", "What is 99 - 45?", "54"),
    ("mul2", "What is 14 * 2?", "28"),
    ("mul2", "What is 10 * 6?", "60"),
    ("mul2", "What is 13 * 3?", "39"),
    ("mul2", "What is 25 * 4?", "100"),
    ("capital", "What is the capital of Portugal?", "Lisbon"),
    ("capital", "What is the capital of Greece?", "Athens"),
    ("capital", "What is the capital of China?", "Beijing"),
    ("capital", "What is the capital of Poland?", "Warsaw"),
    ("capital", "What is the capital of Ireland?", "Dublin"),
    ("capital", "What is the capital of Norway?", "Oslo"),
    ("capital", "What is the capital of Austria?", "Vienna"),
    ("capital", "What is the capital of Peru?", "Lima"),
    ("word", "How many legs does a spider have?", "8"),
    ("word", "How many minutes are in an hour?", "60"),
    ("word", "What is the opposite of up?", "down"),
    ("word", "How many wheels does a car have?", "4"),
    ("word", "What color is grass?", "green"),
    ("word", "How many days are in a year?", "365"),
    ("word", "What is the plural of child?", "children"),
    ("word", "How many sides does a square have?", "4"),
)
SETS = {"selection": QUESTIONS, "confirm": CONFIRM_QUESTIONS}

ORIGINAL_EXEMPLARS: tuple[tuple[str, str], ...] = (  # the default before this measurement
    ("What is 12 + 9?", "12 + 9 = 21. The answer is 21."),
    ("What is 6 * 4?", "6 * 4 = 24. The answer is 24."),
    ("What is the capital of France?", "The capital of France is Paris. The answer is Paris."),
)

# Eight exemplars spanning the kinds of simple questions a new user asks first.
WORKED_8: tuple[tuple[str, str], ...] = (
    ("What is 12 + 9?", "12 + 9 = 21. The answer is 21."),
    ("What is 8 - 5?", "8 - 5 = 3. The answer is 3."),
    ("What is 6 * 4?", "6 * 4 = 24. The answer is 24."),
    ("What is 3 + 6?", "3 + 6 = 9. The answer is 9."),
    ("What is 64 - 31?", "64 - 31 = 33. The answer is 33."),
    ("What is the capital of France?", "The capital of France is Paris. The answer is Paris."),
    ("What is 5 * 6?", "5 * 6 = 30. The answer is 30."),
    ("How many wheels does a bicycle have?", "A bicycle has two wheels. The answer is 2."),
)
WORKED_5 = WORKED_8[:3] + WORKED_8[5:6] + WORKED_8[7:8]
# The same eight with the word questions first and an arithmetic one last (recency).
WORKED_8_ARITH_LAST = WORKED_8[5:6] + WORKED_8[7:8] + WORKED_8[:5] + WORKED_8[6:7]
WORKED_12 = WORKED_8 + (
    ("What is 7 - 2?", "7 - 2 = 5. The answer is 5."),
    ("What is the capital of Kenya?", "The capital of Kenya is Nairobi. The answer is Nairobi."),
    ("What is 5 + 9?", "5 + 9 = 14. The answer is 14."),
    ("How many legs does a cow have?", "A cow has four legs. The answer is 4."),
)
WORKED_16 = WORKED_12 + (
    ("What is 11 * 4?", "11 * 4 = 44. The answer is 44."),
    (
        "What is the capital of Sweden?",
        "The capital of Sweden is Stockholm. The answer is Stockholm.",
    ),
    ("What is 87 - 52?", "87 - 52 = 35. The answer is 35."),
    ("How many weeks are in a year?", "There are 52 weeks in a year. The answer is 52."),
)


INSTRUCTION = "Answer each question in one line. End with: The answer is <answer>."


def answer_only(shots: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """The same exemplars answered with the final sentence only ("The answer is 21.")."""
    return tuple((q, a[a.index("The answer is") :]) for q, a in shots)


@dataclass(frozen=True)
class Variant:
    name: str
    shots: tuple[tuple[str, str], ...]
    temperature: float = 0.7
    stop: tuple[str, ...] = TRANSCRIPT_STOPS
    system: str | None = None  # an instruction line before the exemplars


VARIANTS = {
    v.name: v
    for v in (
        Variant("original_3_worked", ORIGINAL_EXEMPLARS),
        Variant("current_default", GENERIC_EXEMPLARS),
        Variant("3_answer_only", answer_only(ORIGINAL_EXEMPLARS)),
        Variant("5_worked", WORKED_5),
        Variant("8_worked", WORKED_8),
        Variant("8_answer_only", answer_only(WORKED_8)),
        Variant("8_worked_arith_last", WORKED_8_ARITH_LAST),
        Variant("12_worked", WORKED_12),
        Variant("16_worked", WORKED_16),
        Variant("8_worked_stop_newline", WORKED_8, stop=("\n",)),
        Variant("8_worked_t0.3", WORKED_8, temperature=0.3),
        Variant("8_worked_instruction", WORKED_8, system=INSTRUCTION),
        Variant("original_3_worked_t0.3", ORIGINAL_EXEMPLARS, temperature=0.3),
    )
}


def messages(
    shots: tuple[tuple[str, str], ...], question: str, system: str | None = None
) -> list[BaseMessage]:
    """What the generate node sends a base model: exemplar turns, then the question."""
    out: list[BaseMessage] = [] if system is None else [SystemMessage(system)]
    for q, a in shots:
        out += [HumanMessage(q), AIMessage(a)]
    return [*out, HumanMessage(question)]


def answer_of(text: str) -> str | None:
    found = extract_answer(text)
    return None if found is None else normalize_answer(found)


def majority(answers: list[str | None]) -> str | None:
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None
    top = max(counts.values())
    return next(a for a in answers if a is not None and counts[a] == top)


def check_questions() -> None:
    """The arithmetic answers above are right and no exemplar is a held-out question."""
    for kind, question, answer in QUESTIONS + CONFIRM_QUESTIONS:
        if kind[:3] in {"add", "sub", "mul"}:
            expr = question.removeprefix("What is ").rstrip("?")
            assert str(eval(expr)) == answer, (question, answer)  # noqa: S307 - literal table
    held_out = {q for _, q, _ in QUESTIONS + CONFIRM_QUESTIONS}
    assert len(held_out) == len(QUESTIONS) + len(CONFIRM_QUESTIONS)
    assert not held_out & {q for v in VARIANTS.values() for q, _ in v.shots}
    assert not held_out & {"What is 7 + 5?", "What is 2 + 2?", "What is 5 + 7?"}


def run_variant(
    backend, variant: Variant, questions, samples: int, seed: int, greedy: bool
) -> dict:
    started = time.perf_counter()
    rows, tokens = [], 0
    for index, (kind, question, reference) in enumerate(questions):
        prompt = messages(variant.shots, question, variant.system)
        base = SamplingParams(temperature=variant.temperature, max_tokens=64, stop=variant.stop)
        draw = backend.sample(prompt, samples, base.with_seed(seed + 1000 * index))
        answers = [answer_of(c.text) for c in draw.completions]
        tokens += draw.completion_tokens
        ref = normalize_answer(reference)
        row = {
            "kind": kind,
            "question": question,
            "reference": reference,
            "answers": answers,
            "correct": sum(a == ref for a in answers),
            "majority_correct": majority(answers) == ref,
        }
        if greedy:
            cold = SamplingParams(temperature=0.0, max_tokens=64, stop=variant.stop, seed=seed)
            text = backend.sample(prompt, 1, cold).completions[0].text
            row["greedy"] = answer_of(text)
            row["greedy_correct"] = row["greedy"] == ref
        rows.append(row)
    n = len(rows)
    summary = {
        "variant": variant.name,
        "exemplars": len(variant.shots),
        "temperature": variant.temperature,
        "stop": list(variant.stop),
        "single_sample": sum(r["correct"] for r in rows) / (n * samples),
        f"majority@{samples}": sum(r["majority_correct"] for r in rows) / n,
        "seconds": round(time.perf_counter() - started, 1),
        "completion_tokens": tokens,
        "by_kind": {},
    }
    if greedy:
        summary["greedy"] = sum(r["greedy_correct"] for r in rows) / n
    for kind in dict.fromkeys(r["kind"] for r in rows):
        mine = [r for r in rows if r["kind"] == kind]
        summary["by_kind"][kind] = round(sum(r["correct"] for r in mine) / (len(mine) * samples), 3)
    return {"summary": summary, "rows": rows}


def paired_difference(
    base: dict, other: dict, key: str, samples: int
) -> tuple[float, float, float]:
    """Mean per-question difference of ``other`` minus ``base`` with a 95% bootstrap interval
    over questions (paired: both variants saw the same questions and seeds)."""
    import random

    def score(row):
        return row["correct"] / samples if key == "single" else float(row["majority_correct"])

    diffs = [score(o) - score(b) for b, o in zip(base["rows"], other["rows"], strict=True)]
    rng = random.Random(0)
    means = sorted(sum(rng.choice(diffs) for _ in diffs) / len(diffs) for _ in range(2000))
    return sum(diffs) / len(diffs), means[50], means[1949]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names")
    parser.add_argument("--set", default="selection", choices=list(SETS), help="question set")
    parser.add_argument(
        "--kinds", default=None, help="comma-separated kinds to keep (add1, capital, ...; none)"
    )
    parser.add_argument(
        "--ask", action="append", default=[], help='"QUESTION=ANSWER": a question of your own'
    )
    parser.add_argument(
        "--seeds", type=int, default=1, help="repeat each --ask question with this many seeds"
    )
    parser.add_argument("--samples", type=int, default=8, help="samples per question")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--greedy", action="store_true", help="also score the greedy answer")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=None, help="write every answer as JSON here")
    args = parser.parse_args()
    check_questions()

    from langgraph_ttc.backends.embedded import EmbeddedBackend

    backend = EmbeddedBackend(n_threads=args.threads)
    questions = SETS[args.set]
    if args.kinds is not None:
        questions = tuple(q for q in questions if q[0] in args.kinds.split(","))
    for text in args.ask:
        question, _, reference = text.rpartition("=")
        questions += (("asked", question.strip(), reference.strip()),) * args.seeds
    results = []
    for name in args.variants.split(","):
        result = run_variant(
            backend, VARIANTS[name], questions, args.samples, args.seed, args.greedy
        )
        s = result["summary"]
        line = (
            f"{s['variant']:<26} single={s['single_sample']:.3f} "
            f"maj@{args.samples}={s[f'majority@{args.samples}']:.3f}"
        )
        if args.greedy:
            line += f" greedy={s['greedy']:.3f}"
        print(f"{line} ({s['seconds']}s) {s['by_kind']}", flush=True)
        results.append(result)
    for other in results[1:]:
        parts = []
        for key in ("single", "majority"):
            mean, low, high = paired_difference(results[0], other, key, args.samples)
            parts.append(f"{key} {mean:+.3f} [{low:+.3f}, {high:+.3f}]")
        name = other["summary"]["variant"]
        print(f"{name} vs {results[0]['summary']['variant']}: " + "; ".join(parts))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"args": vars(args), "results": results}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
