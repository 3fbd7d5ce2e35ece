"""Tasks: reasoning-gym, HumanEval and JSONL loading, exemplars, extraction and scoring."""

from __future__ import annotations

import json

import pytest

from langgraph_ttc.backends.transcript import render_transcript
from langgraph_ttc.errors import SandboxUnavailable, TTCConfigError
from langgraph_ttc.tasks import (
    Exemplar,
    HumanEvalTask,
    JsonlTask,
    Problem,
    ReasoningGymTask,
    Task,
    list_tasks,
    load_task,
)
from langgraph_ttc.tasks.humaneval import EXEMPLARS, assemble_program, extract_code
from langgraph_ttc.tasks.sandbox import Boundary, run_untrusted, sandbox_boundary
from langgraph_ttc.verifiers import UnitTestVerifier


def test_tasks_all_is_pinned():
    import langgraph_ttc.tasks as tasks

    assert sorted(tasks.__all__) == [
        "Exemplar",
        "HumanEvalTask",
        "JsonlTask",
        "Problem",
        "ReasoningGymTask",
        "Task",
        "list_tasks",
        "load_task",
    ]


# -- reasoning-gym ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def arithmetic() -> ReasoningGymTask:
    task = load_task("rg:basic_arithmetic", size=20, seed=3)
    assert isinstance(task, ReasoningGymTask)
    return task


def test_reasoning_gym_loads(arithmetic):
    problems = arithmetic.problems()
    assert len(problems) == 20
    assert [p.id for p in problems] == [f"basic_arithmetic-3-{i}" for i in range(20)]
    assert all(p.question and p.reference is not None for p in problems)
    assert all(p.metadata["entry"]["answer"] == p.reference for p in problems)
    assert arithmetic.name == "rg:basic_arithmetic"


def test_reasoning_gym_is_reproducible(arithmetic):
    again = ReasoningGymTask("basic_arithmetic", size=20, seed=3)
    assert [p.question for p in again.problems()] == [p.question for p in arithmetic.problems()]
    other = ReasoningGymTask("basic_arithmetic", size=20, seed=4)
    assert [p.question for p in other.problems()] != [p.question for p in arithmetic.problems()]


def test_exemplars_do_not_overlap_problems(arithmetic):
    assert len(arithmetic.exemplars) == 4
    questions = {p.question for p in arithmetic.problems()}
    assert not questions & {e.question for e in arithmetic.exemplars}


def test_exemplars_skip_questions_equal_to_problems():
    # Tiny generator space: 1-digit, 2-term sums collide across seeds; none may leak.
    config = {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}
    task = ReasoningGymTask("chain_sum", size=40, seed=0, config=config, n_exemplars=4)
    questions = {p.question for p in task.problems()}
    assert task.exemplars
    assert not questions & {e.question for e in task.exemplars}


def test_exemplar_answers_are_one_paragraph_ending_with_the_answer(arithmetic):
    for exemplar in arithmetic.exemplars:
        assert "\n\n" not in exemplar.answer
        assert exemplar.answer.rstrip().endswith(".")
        assert "The answer is " in exemplar.answer


def test_reference_answer_text_scores_one(arithmetic):
    for problem in arithmetic.problems():
        assert arithmetic.score(problem, f"The answer is {problem.reference}.") == 1.0
        assert arithmetic.is_correct(problem, f"The answer is {problem.reference}.")


def test_exemplar_answers_score_one_on_their_own_entries(arithmetic):
    # The exemplar's answer text must be extractable as its own reference.
    for exemplar in arithmetic.exemplars:
        answer = arithmetic.extract_answer(exemplar.answer)
        assert answer is not None and answer in exemplar.answer


def test_wrong_and_missing_answers_score_zero(arithmetic):
    problem = arithmetic.problems()[0]
    wrong = str(int(problem.reference) + 1)
    assert arithmetic.score(problem, f"The answer is {wrong}.") == 0.0
    assert arithmetic.score(problem, "I am not sure.") == 0.0


def test_thousands_separators_are_normalised(arithmetic):
    problem = next(p for p in arithmetic.problems() if abs(int(p.reference)) >= 1000)
    pretty = f"{int(problem.reference):,}"
    assert arithmetic.extract_answer(f"The answer is {pretty}.") == problem.reference
    assert arithmetic.score(problem, f"The answer is {pretty}.") == 1.0


def test_units_after_a_numeric_answer_still_score(arithmetic):
    problem = arithmetic.problems()[0]
    assert arithmetic.score(problem, f"The answer is {problem.reference} units.") == 1.0


def test_prompt_renders_as_transcript(arithmetic):
    messages = arithmetic.messages(arithmetic.problems()[0].question)
    text = render_transcript(messages)
    assert text.endswith("A:")
    assert text.count("Q: ") == len(arithmetic.exemplars) + 1


def test_multiline_answers_are_extracted_whole():
    task = ReasoningGymTask("rotate_matrix", size=2, seed=0, n_exemplars=1)
    assert task.multiline
    problem = task.problems()[0]
    assert "\n" in problem.reference
    assert task.score(problem, f"Rotating.\nThe answer is:\n{problem.reference}") == 1.0


def test_blank_lines_in_questions_are_collapsed():
    task = ReasoningGymTask("leg_counting", size=3, seed=0, n_exemplars=1)
    assert all("\n\n" not in p.question for p in task.problems())
    assert all("\n\n" not in e.question for e in task.exemplars)


def test_datasets_without_reference_answers_still_score():
    task = ReasoningGymTask("propositional_logic", size=2, seed=0, n_exemplars=2)
    assert task.exemplars == ()  # no reference answers to show
    problem = task.problems()[0]
    assert problem.reference is None
    assert 0.0 <= task.score(problem, "The answer is P.") <= 1.0


def test_config_is_passed_to_the_generator():
    task = load_task("rg:chain_sum", size=5, config={"min_terms": 2, "max_terms": 2})
    assert all(p.metadata["entry"]["metadata"]["num_terms"] == 2 for p in task.problems())


def test_bad_config_names_valid_keys():
    with pytest.raises(TTCConfigError, match="Valid config keys: .*max_terms"):
        load_task("rg:chain_sum", size=2, config={"nonsense": 1})


# -- names -------------------------------------------------------------------------------------


def test_list_tasks():
    names = list_tasks()
    assert "humaneval" in names
    assert "rg:basic_arithmetic" in names and "rg:gsm_symbolic" in names
    assert len([n for n in names if n.startswith("rg:")]) >= 100


def test_unknown_task_name_lists_valid_names():
    with pytest.raises(TTCConfigError) as info:
        load_task("arithmatic")
    message = str(info.value)
    assert "humaneval" in message and "jsonl:<path>" in message
    assert "rg:basic_arithmetic" in message and "list_tasks()" in message


def test_unknown_reasoning_gym_dataset_suggests_close_names():
    with pytest.raises(TTCConfigError, match="Did you mean basic_arithmetic") as info:
        load_task("rg:basic_arithmetc")
    assert "list_tasks()" in str(info.value)


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_task_name(name):
    with pytest.raises(TTCConfigError, match="non-empty"):
        load_task(name)


def test_bad_size():
    with pytest.raises(TTCConfigError, match="size"):
        load_task("rg:basic_arithmetic", size=0)


# -- JSONL -------------------------------------------------------------------------------------


def _write(tmp_path, lines, name="qa.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_jsonl_task_loads_and_scores(tmp_path):
    path = _write(
        tmp_path,
        [
            json.dumps({"id": "a", "question": "What is 2+2?", "answer": "4"}),
            "",
            json.dumps({"question": "Half of 1?", "answer": 0.5, "topic": "fractions"}),
            json.dumps({"id": "c", "question": "Capital of France?", "answer": "Paris"}),
        ],
    )
    for task in (load_task(str(path)), load_task(f"jsonl:{path}"), JsonlTask(path)):
        assert isinstance(task, JsonlTask)
        a, b, c = task.problems()
        assert (a.id, b.id, c.id) == ("a", "qa-3", "c")
        assert b.reference == "0.5" and b.metadata == {"topic": "fractions"}
        assert task.score(a, "2 + 2 = 4. The answer is 4.") == 1.0
        assert task.score(a, "The answer is 5.") == 0.0
        assert task.score(b, r"The answer is $\frac{1}{2}$.") == 1.0
        assert task.score(c, "The answer is paris.") == 1.0


def test_jsonl_subset_keeps_file_order(tmp_path):
    lines = [json.dumps({"id": f"q{i}", "question": f"{i}?", "answer": i}) for i in range(10)]
    task = load_task(str(_write(tmp_path, lines)), size=4, seed=1)
    ids = [p.id for p in task.problems()]
    assert len(ids) == 4 and ids == sorted(ids, key=lambda s: int(s[1:]))


@pytest.mark.parametrize(
    ("bad_line", "match"),
    [
        ("not json", "line 2: not valid JSON"),
        ("[1, 2]", "line 2: got list"),
        (json.dumps({"answer": "1"}), 'line 2: missing or empty "question"'),
        (json.dumps({"question": "x?", "answer": [1]}), 'line 2: "answer" must be'),
        (
            json.dumps({"id": "a", "question": "x?"}),
            "line 2: duplicate id 'a' \\(first on line 1\\)",
        ),
    ],
)
def test_jsonl_bad_line_names_the_line(tmp_path, bad_line, match):
    path = _write(tmp_path, [json.dumps({"id": "a", "question": "1+1?", "answer": 2}), bad_line])
    with pytest.raises(TTCConfigError, match=match):
        JsonlTask(path)


def test_jsonl_missing_file_and_missing_reference(tmp_path):
    with pytest.raises(TTCConfigError, match="No such JSONL task file"):
        load_task(str(tmp_path / "nope.jsonl"))
    task = JsonlTask(_write(tmp_path, [json.dumps({"question": "Why?"})]))
    with pytest.raises(TTCConfigError, match="no reference answer"):
        task.score(task.problems()[0], "The answer is 1.")


# -- HumanEval ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def humaneval() -> HumanEvalTask:
    return HumanEvalTask(size=3, seed=0)


def test_humaneval_loads_without_download():
    full = load_task("humaneval")
    assert isinstance(full, HumanEvalTask)
    assert len(full.problems()) == 164
    assert full.problems()[0].id == "HumanEval/0"
    subset = HumanEvalTask(size=3, seed=0)
    ids = [p.id for p in subset.problems()]
    assert ids == [p.id for p in HumanEvalTask(size=3, seed=0).problems()]
    assert ids == sorted(ids, key=lambda s: int(s.split("/")[1]))


def test_humaneval_canonical_solutions_pass(humaneval):
    for problem in humaneval.problems():
        assert humaneval.score(problem, problem.reference) == 1.0


def test_humaneval_accepts_fenced_blocks_and_bare_bodies(humaneval):
    problem = humaneval.problems()[0]
    prompt = problem.metadata["prompt"]
    body = problem.reference[len(prompt) :]
    assert humaneval.score(problem, f"Sure:\n```python\n{problem.reference}\n```\nDone.") == 1.0
    assert humaneval.score(problem, f"```python\n{problem.reference}") == 1.0  # unclosed fence
    assert humaneval.score(problem, body) == 1.0  # raw continuation of the prompt
    assert humaneval.score(problem, body.lstrip()) == 1.0  # first line's indent stripped


def test_humaneval_wrong_or_missing_code_scores_zero(humaneval):
    problem = humaneval.problems()[0]
    entry = problem.metadata["entry_point"]
    assert humaneval.score(problem, f"```python\ndef {entry}(*args):\n    return None\n```") == 0.0
    assert humaneval.score(problem, "") == 0.0
    assert humaneval.score(problem, "def (((") == 0.0


def test_humaneval_exemplars_are_correct():
    for exemplar in EXEMPLARS:
        code = extract_code(exemplar.answer)
        program = assemble_program(exemplar.question + "\n", code)
        assert program is not None
        result = run_untrusted(f"{program}\nimport doctest\nassert doctest.testmod().failed == 0\n")
        assert result.passed, result.stderr
        assert "\n\n" not in exemplar.question and "\n\n" not in exemplar.answer


@pytest.fixture
def no_sandbox(monkeypatch):
    """A machine where no sandbox boundary can be made."""
    from langgraph_ttc.tasks import sandbox

    missing = Boundary(None, None, "RLIMIT_AS", "no bwrap executable (test)")
    monkeypatch.setattr(sandbox, "_probe_boundary", lambda: missing)


def test_humaneval_refuses_without_a_sandbox_unless_allowed(no_sandbox):
    for make in (
        lambda: HumanEvalTask(size=1),
        lambda: load_task("humaneval", size=1),
        lambda: UnitTestVerifier(),
    ):
        with pytest.raises(SandboxUnavailable, match="no bwrap executable.*--allow-unsandboxed"):
            make()
    task = load_task("humaneval", size=1, allow_unsandboxed=True)
    problem = task.problems()[0]
    result = task.run_tests(problem, problem.reference)
    assert result.passed and not result.sandboxed
    verdict = UnitTestVerifier(allow_unsandboxed=True).verify("q", "nothing", problem=problem)
    assert verdict.score == 0.0


def test_humaneval_runs_its_tests_in_the_sandbox(humaneval):
    if not sandbox_boundary().available:
        pytest.skip(f"no sandbox boundary here: {sandbox_boundary().missing}")
    problem = humaneval.problems()[0]
    assert humaneval.run_tests(problem, problem.reference).sandboxed
    # A completion that reads files of ours finds none: the tests fail, nothing is read.
    entry = problem.metadata["entry_point"]
    hostile = f"```python\ndef {entry}(*a):\n    return open('/etc/shadow').read()\n```"
    result = humaneval.run_tests(problem, hostile)
    assert not result.passed and "FileNotFoundError" in result.stderr


def test_assemble_program_returns_none_when_nothing_compiles():
    assert assemble_program("def f(x):\n", "return (") is None


@pytest.mark.parametrize(
    "code",
    [
        "return x + 1",  # continuation of the prompt, first indent lost
        "    return x + 1",  # continuation of the prompt
        "    y = x\n    return y + 1",
        "return helper(x)\n\ndef helper(v):\n    return v + 1",  # body plus a helper
        "def f(x):\n    return x + 1",  # whole function
        "Here it is:\ndef f(x):\n    return x + 1",  # prose, then the function
        "  def f(x):\n      return x + 1",  # whole function, indented
        "    def g():\n        return x + 1\n    return g()",  # body with a nested def
    ],
)
def test_assemble_program_forms(code):
    prompt = 'def f(x):\n    """Add one."""\n'
    program = assemble_program(prompt, code, "f")
    assert program is not None
    scope: dict = {}
    exec(compile(program, "<test>", "exec"), scope)  # trusted, hand-written test code
    assert scope["f"](1) == 2


def test_problem_and_exemplar_are_the_shared_types():
    assert issubclass(HumanEvalTask, Task) and issubclass(JsonlTask, Task)
    assert Problem("p", "q").reference is None
    assert Exemplar("q", "a").answer == "a"
