"""Two more ways in: a LangChain Runnable, and a chat model that any chain or agent can use."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    CallbackManager,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, PrivateAttr

from langgraph_ttc.backends import ChatModelBackend, resolve_backend
from langgraph_ttc.backends.langchain import _chat_model, _fields
from langgraph_ttc.batch import BatchAllocator, as_messages
from langgraph_ttc.errors import NoAnswer, TTCConfigError
from langgraph_ttc.graph import GraphOptions, create_ttc_graph
from langgraph_ttc.nodes.context import TTCContext
from langgraph_ttc.nodes.prepare import as_question_input
from langgraph_ttc.strategies import get_strategy


def _child_config(run_manager) -> dict:
    """A config whose callbacks nest the graph's runs under this chat model's run."""
    if run_manager is None:
        return {}
    manager_cls = (
        AsyncCallbackManager
        if isinstance(run_manager, AsyncCallbackManagerForLLMRun)
        else CallbackManager
    )
    manager = manager_cls(
        handlers=run_manager.inheritable_handlers,
        inheritable_handlers=run_manager.inheritable_handlers,
        parent_run_id=run_manager.run_id,
        tags=run_manager.inheritable_tags,
        inheritable_tags=run_manager.inheritable_tags,
        metadata=run_manager.inheritable_metadata,
        inheritable_metadata=run_manager.inheritable_metadata,
    )
    return {"callbacks": manager}


def _last_message(output: dict) -> AIMessage:
    """The run's reply; a run that found no answer is an error here, where the caller asked
    for an answer (a graph's caller reads ``ttc_result["no_answer"]`` instead)."""
    message = output["messages"][-1]
    result = output.get("ttc_result") or {}
    if "answer" in result and result["answer"] is None and not message.tool_calls:
        raise NoAnswer(f"No sample gave an answer: {result.get('no_answer')}")
    return message


# LangSmith's provider names for the backends that are not LangChain chat models.
_PROVIDERS = {"OpenAICompatibleBackend": "openai", "EmbeddedBackend": "llama.cpp"}

SUMMARY_KEYS = (
    "answer",
    "confidence",
    "method",
    "strategy",
    "model",
    "tally",
    "difficulty",
    "truncated_in_thinking",
)


def result_summary(result: dict) -> dict:
    """What a reply's metadata keeps of a run: the decision, the usage totals and the plan's
    reason, not the candidates.

    Example:
        >>> result_summary({"answer": "4", "candidates": [{"text": "..."}] * 8,
        ...                 "usage": {"calls": 8, "by_purpose": {}}, "plan": {"reason": "majority"}})
        {'answer': '4', 'usage': {'calls': 8}, 'plan': 'majority', 'samples': 8}
    """
    summary = {k: result[k] for k in SUMMARY_KEYS if k in result}
    usage = result.get("usage") or {}
    summary["usage"] = {k: v for k, v in usage.items() if k != "by_purpose"}
    summary["plan"] = (result.get("plan") or {}).get("reason")
    summary["samples"] = len(result.get("candidates") or [])
    return summary


def as_runnable(model="local", strategy="majority", *, allocation=None, **options) -> Runnable:
    """A Runnable: str or messages in, the chosen AIMessage out.

    ``invoke``/``ainvoke``/``batch``/``abatch``/``stream`` work as for any Runnable; batch honours
    ``max_concurrency`` and callbacks and tags reach every model call. ``options`` are the
    graph's (:class:`~langgraph_ttc.graph.GraphOptions`, as for
    :func:`~langgraph_ttc.graph.create_ttc_graph`).

    With ``allocation`` (a :class:`~langgraph_ttc.allocation.BatchAllocation`), ``batch`` and
    ``abatch`` spend one total budget over the whole batch, giving the next samples to the
    questions where the expected gain is highest (:class:`~langgraph_ttc.batch.BatchAllocator`;
    ``strategy`` then only sets sampling, e.g. temperature; options: ``task``, ``confidence``,
    ``seed``, ``prior``).

    Example:
        >>> from langgraph_ttc.testing import FakeBackend
        >>> chain = as_runnable(FakeBackend(), "majority", n=3)
        >>> chain.invoke("What is 2+2?").type
        'ai'
    """
    if allocation is not None:
        return _allocating(model, strategy, allocation, **options)
    return GraphAnswer(create_ttc_graph(model, strategy, **GraphOptions.of(**options).as_kwargs()))


class GraphAnswer(Runnable[Any, AIMessage]):
    """A test-time-compute graph as a Runnable of questions to answers (:func:`as_runnable`).

    The graph's run is the run, with the caller's config: a ``RunnableLambda`` around it would
    add a run of its own (0.28 ms a question, a twentieth of a fast server's answer).

    Example:
        >>> from langgraph_ttc.testing import FakeBackend
        >>> GraphAnswer(create_ttc_graph(FakeBackend(), "majority", n=3)).invoke("2+2?").type
        'ai'
    """

    def __init__(self, graph) -> None:
        self.graph = graph
        self.name = graph.name

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> AIMessage:
        return _last_message(self.graph.invoke(as_question_input(input), config, **kwargs))

    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AIMessage:
        output = await self.graph.ainvoke(as_question_input(input), config, **kwargs)
        return _last_message(output)


def _allocating(model, strategy, allocation, *, seed: int = 0, prior=None, **options) -> Runnable:
    """``as_runnable`` over a batch allocator: AIMessages out, one total budget per batch."""
    unknown = set(options) - {"task", "confidence", "budget", "n"}
    if unknown:
        raise TTCConfigError(
            f"as_runnable(allocation=...) takes task, confidence, budget, seed and prior; not "
            f"{', '.join(sorted(unknown))}."
        )
    ctx = TTCContext.create(model, strategy, **options)
    allocator = BatchAllocator(ctx, allocation, seed=seed, prior=prior)
    return (allocator | RunnableLambda(_reply)).with_config(run_name="ttc_batch_allocation")


def _reply(result):
    """One allocator result (or a batch of them) as a chat reply."""
    return as_messages([result])[0]


class TTCChatModel(BaseChatModel):
    """Wraps a chat model with a test-time-compute strategy; drop it in wherever a chat model goes
    (``create_agent``, LCEL chains). When the wrapped model answers with tool calls, the
    samples vote over the tool calls (name + normalised arguments).

    Example:
        >>> from langgraph_ttc.testing import FakeBackend
        >>> chat = TTCChatModel(model=FakeBackend(), strategy="majority", n=3)
        >>> chat.invoke("What is 2+2?").content.startswith("Let me think")
        True
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model: Any
    strategy: Any = "majority"
    # The graph's options (GraphOptions; a test keeps these fields and those equal).
    n: int | None = None
    budget: Any = None
    verifier: Any = None
    task: Any = None
    policy: Any = None
    keep_thinking: bool = False
    judges_see_thinking: bool = False
    confidence: Any = None
    include_candidates: bool = False
    """Put the whole ``ttc_result`` (every candidate) in each reply's metadata; by default a
    summary, so an agent's history and checkpoints do not grow with ``n``."""
    _compiled: Any = PrivateAttr(default=None)
    _backend: Any = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "langgraph-ttc"

    def model_post_init(self, context: Any) -> None:
        # Built once (not per call): the graph is stateless between runs.
        self._backend = resolve_backend(self.model)
        options = GraphOptions.of(**{name: getattr(self, name) for name in GraphOptions.names()})
        self._compiled = create_ttc_graph(self._backend, self.strategy, **options.as_kwargs())

    def _graph(self):
        return self._compiled

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        """LangSmith's model, provider, temperature, max_tokens and stop: the wrapped model's,
        with the strategy's temperature and max_tokens where the samples are drawn with them
        (a chat model class that declares those fields gets them bound per sample)."""
        strategy = get_strategy(self.strategy, n=self.n)
        backend = self._backend
        if isinstance(backend, ChatModelBackend) and isinstance(
            inner := _chat_model(backend.model), BaseChatModel
        ):
            bound = getattr(backend.model, "kwargs", None) or {}
            params = inner._get_ls_params(stop=stop, **{**bound, **kwargs})
            drawn_with = _fields(backend.model)
        else:  # an OpenAI-compatible server, llama.cpp in process, or a custom Backend
            params = LangSmithParams(
                ls_provider=_PROVIDERS.get(type(backend).__name__, "langgraph-ttc"),
                ls_model_name=str(getattr(backend, "model_id", "") or type(backend).__name__),
                ls_model_type="chat",
            )
            drawn_with = frozenset({"temperature", "max_tokens"})
            if stop:
                params["ls_stop"] = stop
        params["ls_model_type"] = "chat"
        if "temperature" in drawn_with:
            params["ls_temperature"] = strategy.temperature
        if "max_tokens" in drawn_with:
            params["ls_max_tokens"] = strategy.max_tokens
        if isinstance(kwargs.get("model"), str):  # a per-call override names the model traced
            params["ls_model_name"] = kwargs["model"]
        if not params.get("ls_model_name"):  # a wrapped model without a name of its own
            inner = _chat_model(getattr(backend, "model", None)) or backend
            params["ls_model_name"] = f"{strategy.name}({type(inner).__name__})"
        return params

    def bind_tools(self, tools, *, tool_choice: Any = None, **kwargs) -> Runnable:
        """The wrapped model with ``tools`` bound (the samples then vote on tool calls), as a
        ``RunnableBinding`` like any chat model's ``bind_tools``; its ``kwargs["tools"]`` lists
        the tools in OpenAI's format (our samples ignore them: they are bound below)."""
        if not hasattr(self.model, "bind_tools"):
            raise TTCConfigError(
                f"bind_tools needs a LangChain chat model as model=; got {type(self.model).__name__}. "
                "Pass e.g. TTCChatModel(model=ChatOpenAI(...)) to vote on tool calls."
            )
        choice = {} if tool_choice is None else {"tool_choice": tool_choice}
        inner = self.model.bind_tools(tools, **choice, **kwargs)
        # A new instance (not model_copy): its graph must be built for the bound model.
        fields = {name: getattr(self, name) for name in type(self).model_fields}
        chat = type(self)(**{**fields, "model": inner})
        return chat.bind(tools=[convert_to_openai_tool(tool) for tool in tools], **choice)

    def _result(self, output: dict) -> ChatResult:
        message = _last_message(output)
        result = output.get("ttc_result") or {}
        if not self.include_candidates:
            result = result_summary(result)
        return ChatResult(
            generations=[ChatGeneration(message=message)], llm_output={"ttc_result": result}
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._result(
            self._graph().invoke({"messages": messages}, _child_config(run_manager))
        )

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        output = await self._graph().ainvoke({"messages": messages}, _child_config(run_manager))
        return self._result(output)
