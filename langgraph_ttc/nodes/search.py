"""The step-level search loop's nodes (the node layer; :mod:`langgraph_ttc.search` is the pure
library they use): prepare -> select -> expand (Send per node) -> score -> select ...
-> aggregate. Each is a few lines around the pure rules in ``selection``, ``segmentation`` and
``tree``; every model call goes through a :class:`~langgraph_ttc.budget.Meter`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from langchain_core.messages import AIMessage, BaseMessage
from langgraph.types import Overwrite, Send

from langgraph_ttc.aggregators import Ballots, get_aggregator
from langgraph_ttc.backends.base import Completion, SamplingParams
from langgraph_ttc.budget import Budget, Meter, Usage
from langgraph_ttc.calls import Sample, Steps
from langgraph_ttc.nodes.aggregate import check_failures, final_message, run_result
from langgraph_ttc.nodes.base import StateNode, TTCNode, emit
from langgraph_ttc.nodes.context import TTCContext, seed_of
from langgraph_ttc.nodes.prepare import PrepareNode
from langgraph_ttc.parsing import extract_answer, normalize_answer
from langgraph_ttc.search.scorers import ProcessScorer
from langgraph_ttc.search.segmentation import Segmentation, StepCut
from langgraph_ttc.search.selection import fit_widths, ranked, reduce_scores
from langgraph_ttc.search.state import ExpandTask
from langgraph_ttc.search.tree import (
    ROOT_ID,
    children_of,
    index_nodes,
    new_node,
    node_number,
    path_to,
    root_node,
    solutions,
    steps_to,
)
from langgraph_ttc.strategies.search import StepSearch

__all__ = [
    "RESULT_NODE_KEYS",
    "ExpandNode",
    "ScoreNode",
    "SearchAggregateNode",
    "SearchContext",
    "SearchPrepareNode",
    "SelectNode",
    "fan_out_expand",
    "node_score",
    "partial_answer",
    "reformat_exemplars",
]


@dataclass(frozen=True)
class SearchContext:
    """What the search nodes need besides state (models and callables never go into state)."""

    ctx: TTCContext
    config: StepSearch
    scorer: ProcessScorer
    segmentation: Segmentation

    @property
    def cost_per_child(self) -> int:
        """Calls one new step costs: its sample, its lookahead rollout and its scoring."""
        return 1 + self.config.rollout_steps + self.scorer.calls_per_step

    def step_params(self, temperature: float | None = None) -> SamplingParams:
        return SamplingParams(
            temperature=self.config.temperature if temperature is None else temperature,
            max_tokens=self.config.max_tokens,
            stop=self.segmentation.stops(self.ctx.backend),
        )

    def prompt(self, state: Mapping) -> list[BaseMessage]:
        """The run's prompt; exemplar answers rewritten one step per sentence, so base models
        write steps in the segmentation's format."""
        prompt = self.ctx.prompt(state)
        if self.config.reformat_exemplars and (
            self.ctx.task is not None or getattr(self.ctx.backend, "needs_exemplars", False)
        ):
            prompt = reformat_exemplars(prompt, self.segmentation)
        return prompt

    def answer_of(self, text: str) -> str | None:
        if self.ctx.task is not None:
            return self.ctx.task.extract_answer(text)
        found = extract_answer(text)
        return None if found is None else normalize_answer(found)

    def step_done(self, cut: StepCut, finish_reason: str | None, depth: int) -> bool:
        """Whether a step finishes its solution: it states the answer, is empty (the model
        ended its answer), reaches the maximum depth, or is the last thing the model wrote."""
        if not cut.step or self.segmentation.is_final(cut.step):
            return True
        if depth >= self.config.max_rounds:
            return True
        if cut.more or finish_reason == "length":
            return False
        # A stop at the step separator is not an end of turn; anything else is.
        return not self.segmentation.uses_step_stops(self.ctx.backend)


def partial_answer(prompt: Sequence[BaseMessage], segmentation: Segmentation, steps) -> list:
    """The prompt plus the steps so far as a trailing AI message (a partial answer to continue)."""
    return [*prompt, AIMessage(segmentation.prefix(steps))] if steps else list(prompt)


def reformat_exemplars(messages: Sequence[BaseMessage], segmentation: Segmentation) -> list:
    """Exemplar answers (AI messages followed by another turn) rewritten one step per sentence."""
    out = list(messages)
    for i, message in enumerate(out[:-1]):
        if message.type == "ai" and isinstance(message.content, str) and not message.tool_calls:
            out[i] = AIMessage(segmentation.format_solution(message.content))
    return out


class SearchPrepareNode(StateNode):
    """Start of a run: the usual prepare, plus a fresh tree holding only the root."""

    def __init__(self, sctx: SearchContext) -> None:
        self.sctx = sctx
        self.prepare = PrepareNode(sctx.ctx)

    def __call__(self, state: dict) -> dict:
        update = self.prepare(state)
        update["ttc_tree"] = Overwrite([root_node()])
        update["ttc_frontier"] = []
        return update


def node_score(node: Mapping, index: Mapping[str, Mapping], how: str) -> float:
    """A node's solution score: ``how`` over the scores of the non-empty steps on its path."""
    scores = [n.get("score") or 0.0 for n in path_to(node["id"], index) if n.get("text")]
    return reduce_scores(scores or [node.get("score") or 0.0], how)  # type: ignore[arg-type]


class SelectNode(StateNode):
    """Plans the next round: which open steps get children and how many, within the budget."""

    def __init__(self, sctx: SearchContext) -> None:
        self.sctx = sctx

    def __call__(self, state: dict) -> dict:
        sctx, config = self.sctx, self.sctx.config
        nodes = state.get("ttc_tree") or [root_node()]
        index = index_nodes(nodes)
        round_ = state.get("ttc_round", 0)
        if index[ROOT_ID].get("width", 0) == 0:
            frontier: list[Mapping] = [index[ROOT_ID]]
            widths, priority = [config.n], [0]
        else:
            frontier = [
                n
                for n in nodes
                if n.get("round") == round_ - 1 and n.get("ok") and not n.get("done")
            ]
            scores = [node_score(n, index, config.reduce) for n in frontier]
            widths = config.widths(frontier, scores, solutions(nodes))
            priority = ranked(scores)
        left = sctx.ctx.meter(state).remaining()
        if left.max_seconds is not None and left.max_seconds <= 0:
            widths = [0] * len(frontier)
        elif left.max_calls is not None:
            widths = fit_widths(widths, priority, left.max_calls // sctx.cost_per_child)
        planned = [
            {"id": node["id"], "width": width}
            for node, width in zip(frontier, widths, strict=True)
            if width > 0
        ]
        emit("search_select", round=round_, widths={p["id"]: p["width"] for p in planned})
        return {
            "ttc_tree": planned,  # records each expanded node's width
            "ttc_frontier": planned,
            "ttc_round": round_ + 1 if planned else round_,
        }


def fan_out_expand(sctx: SearchContext, state: dict, node: str = "expand") -> list[Send]:
    """One Send per planned node: all of a round's expansions run in the same step, each as
    one ``n=width`` request; each branch gets its planned calls and a share of the tokens."""
    planned = state.get("ttc_frontier") or []
    if not planned:
        return []
    nodes = state["ttc_tree"]
    index = index_nodes(nodes)
    total = sum(p["width"] for p in planned)
    left = sctx.ctx.budget.minus(Usage.from_dict(state.get("ttc_usage")))
    next_number = max(node_number(n["id"]) for n in nodes) + 1
    round_ = state["ttc_round"] - 1
    sends = []
    for plan in planned:
        parent = index[plan["id"]]
        width = plan["width"]
        if parent["id"] == ROOT_ID:
            subtrees = [sctx.config.subtree_of_first(i) for i in range(width)]
        else:
            subtrees = [parent.get("subtree")] * width
        share = left.split(total)
        budget = replace(
            share,
            max_calls=width,
            max_tokens=None if share.max_tokens is None else share.max_tokens * width,
            max_usd=None if share.max_usd is None else share.max_usd * width,
            max_seconds=sctx.ctx.budget.max_seconds,
        )
        task = ExpandTask(
            ttc_question=state["ttc_question"],
            ttc_prompt=sctx.prompt(state),
            ttc_run_id=state["ttc_run_id"],
            ttc_seed=state["ttc_seed"],
            ttc_started_at=state["ttc_started_at"],
            parent=parent["id"],
            steps=steps_to(parent["id"], index),
            depth=parent["depth"] + 1,
            round=round_,
            subtrees=subtrees,
            first_child=next_number,
            width=width,
            budget=budget.to_dict(),
        )
        sends.append(Send(node, task))
        next_number += width
    return sends


class ExpandNode(TTCNode):
    """Draws ``width`` children of one node in one request (``n`` where the backend honours it)."""

    default_name = "expand"

    def __init__(self, sctx: SearchContext) -> None:
        super().__init__(sctx.ctx)
        self.sctx = sctx

    def meter_for(self, task: Mapping) -> Meter:
        # Each branch of a round spends the share of the budget fan_out_expand gave it.
        return Meter(Budget.from_dict(task["budget"]), started_at=task["ttc_started_at"])

    def steps(self, task: Mapping, meter: Meter) -> Steps[dict]:
        sctx = self.sctx
        messages = partial_answer(task["ttc_prompt"], sctx.segmentation, task["steps"])
        params = sctx.step_params().with_seed(seed_of(task["ttc_seed"], task["first_child"]))
        (draw,) = yield [Sample(sctx.ctx.backend, messages, task["width"], "generate", params)]
        children = [
            self.child(task, offset, completion)
            for offset, completion in enumerate(draw.completions)
        ]
        return {"ttc_tree": children}

    def child(self, task: ExpandTask, offset: int, completion: Completion) -> dict:
        sctx = self.sctx
        depth = task["depth"]
        cut = sctx.segmentation.cut(completion.text) if completion.ok else StepCut("", False)
        done = not completion.ok or sctx.step_done(cut, completion.finish_reason, depth)
        answer = None
        if done and completion.ok:
            answer = sctx.answer_of(sctx.segmentation.join([*task["steps"], cut.step]))
        return new_node(
            f"n{task['first_child'] + offset}",
            task["parent"],
            depth=depth,
            round=task["round"],
            text=cut.step,
            subtree=task["subtrees"][offset],
            done=done,
            answer=answer,
            ok=completion.ok,
            error=completion.error,
            finish_reason=completion.finish_reason,
            seed=completion.seed,
            completion_tokens=completion.completion_tokens,
        )


class ScoreNode(TTCNode):
    """Scores every new step once: failed steps 0, empty steps their parent's score, identical
    siblings one scorer call; with lookahead, after a temperature-0 rollout of k steps."""

    default_name = "score"

    def __init__(self, sctx: SearchContext) -> None:
        super().__init__(sctx.ctx)
        self.sctx = sctx

    def steps(self, state: Mapping, meter: Meter) -> Steps[dict]:
        sctx = self.sctx
        nodes = state["ttc_tree"]
        index = index_nodes(nodes)
        updates: dict[str, dict] = {}
        groups: dict[tuple[str, str], list[Mapping]] = {}
        for node in nodes:
            if node["id"] == ROOT_ID or node.get("score") is not None:
                continue
            if not node.get("ok"):
                updates[node["id"]] = {"id": node["id"], "score": 0.0}
            elif not node.get("text"):
                parent = index[node["parent"]]
                updates[node["id"]] = {"id": node["id"], "score": parent.get("score") or 0.0}
            else:
                groups.setdefault((node["parent"], node["text"]), []).append(node)
        heads = [group[0] for group in groups.values()]
        rollouts = (yield [self.rollout(state, node, index) for node in heads]) if heads else []
        paths = [steps_to(n["id"], index) + extra for n, extra in zip(heads, rollouts, strict=True)]
        verdicts = yield from sctx.scorer.paths_steps(
            state["ttc_question"], paths, backend=sctx.ctx.backend, prompt=sctx.prompt(state)
        )
        for group, extra, verdict in zip(groups.values(), rollouts, verdicts, strict=True):
            for node in group:
                updates[node["id"]] = {
                    "id": node["id"],
                    "score": float(verdict.score),
                    "parsed": verdict.parsed,
                    "lookahead": sctx.segmentation.join(extra) if extra else None,
                    "duplicate_of": None if node is group[0] else group[0]["id"],
                }
        emit(
            "search_scores",
            round=state.get("ttc_round", 0) - 1,
            scores={i: round(u["score"], 4) for i, u in updates.items()},
        )
        return {"ttc_tree": list(updates.values())}

    def rollout(self, state: Mapping, node: Mapping, index: Mapping) -> Steps[list[str]]:
        """Lookahead (Snell et al. 2024, sec. 5.2): up to k more steps at temperature 0."""
        sctx = self.sctx
        if node.get("done") or sctx.config.rollout_steps == 0:
            return []
        steps, extra = steps_to(node["id"], index), []
        for i in range(sctx.config.rollout_steps):
            messages = partial_answer(sctx.prompt(state), sctx.segmentation, steps + extra)
            (draw,) = yield [
                Sample(sctx.ctx.backend, messages, 1, "generate", sctx.step_params(0.0))
            ]
            if not draw.completions or not draw.completions[0].ok:
                break
            completion = draw.completions[0]
            cut = sctx.segmentation.cut(completion.text)
            if not cut.step:
                break
            extra.append(cut.step)
            if sctx.step_done(cut, completion.finish_reason, node["depth"] + i + 1):
                break
        return extra


RESULT_NODE_KEYS = (
    "id", "parent", "depth", "round", "subtree", "text", "score", "parsed", "done", "answer",
    "width", "ok", "error", "finish_reason", "seed", "completion_tokens", "lookahead",
    "duplicate_of",
)  # fmt: skip


class SearchAggregateNode(StateNode):
    """The strategy's aggregator (weighted best-of-N) over the finished solutions (their scores reduced per ``reduce``);
    writes ``ttc_result`` (with the tree) and one AIMessage."""

    def __init__(self, sctx: SearchContext) -> None:
        self.sctx = sctx

    def __call__(self, state: dict) -> dict:
        sctx, config = self.sctx, self.sctx.config
        nodes = sorted(state.get("ttc_tree") or [], key=lambda n: node_number(n["id"]))
        index = index_nodes(nodes)
        failed = [n for n in nodes if not n.get("ok")]
        check_failures(failed, len(nodes) - 1, config.on_failure, "steps")
        finished = solutions(nodes)
        method_note = "solutions"
        if not finished:  # out of budget or rounds before any solution finished: open leaves
            kids = children_of(nodes)
            finished = [
                n for n in nodes if n["id"] != ROOT_ID and n.get("ok") and n["id"] not in kids
            ]
            method_note = "open_leaves"
        candidates = [self.candidate(n, index) for n in finished]
        # The strategy's aggregator over the solutions' scores: weighted best-of-N for the
        # searches of Snell et al. 2024, the argmax for particle filtering.
        picked = get_aggregator(config.aggregator).vote(
            Ballots(
                tuple(c["answer"] for c in candidates),
                scores=tuple(float(c["score"] or 0.0) for c in candidates),
            )
        )
        chosen = candidates[picked.index] if picked.index is not None else None
        tree = [{k: n.get(k) for k in RESULT_NODE_KEYS} for n in nodes]
        result = run_result(
            state,
            picked,
            chosen,
            strategy=config.name,
            model=sctx.ctx.backend.model_id,
            candidates=candidates,
            failed=failed,
        ) | {
            "tree": tree,
            "search": {
                "rounds": state.get("ttc_round", 0),
                "nodes": len(nodes) - 1,
                "solutions": len(solutions(nodes)),
                "answered_from": method_note,
                "segmentation": sctx.segmentation.kind,
            },
        }
        emit("search_done", rounds=result["search"]["rounds"], nodes=len(nodes) - 1)
        return {"ttc_result": result, "messages": [final_message(state, chosen, result)]}

    def candidate(self, node: Mapping, index: Mapping[str, Mapping]) -> dict:
        sctx = self.sctx
        text = sctx.segmentation.join(steps_to(node["id"], index))
        answer = node.get("answer") if node.get("done") else sctx.answer_of(text)
        path = path_to(node["id"], index)
        return {
            "id": node["id"],
            "chain": node.get("subtree") or 0,
            "step": node.get("depth"),
            "purpose": "search",
            "answer": answer,
            "text": text,
            "ok": True,
            "error": None,
            "verdict": None,
            "critique": None,
            "score": round(node_score(node, index, sctx.config.reduce), 6),
            "seed": node.get("seed"),
            "completion_tokens": sum(n.get("completion_tokens") or 0 for n in path),
        }
