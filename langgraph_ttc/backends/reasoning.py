"""One thinking-budget knob (``SamplingParams.thinking_budget``) mapped to what each server takes.

============================  ==============================================================
server (``thinking_control``)  how the budget reaches it
============================  ==============================================================
``"vllm"``                     ``thinking_token_budget`` (request field, vLLM >= 0.20, PR #20859
                               "limit thinking tokens (hard limit)", merged 2026-03-25): at the
                               budget vLLM forces the end-of-thinking string and the model
                               answers. The server needs ``--reasoning-parser`` (and, in the
                               first releases, ``--reasoning-config '{"reasoning_start_str":
                               "<think>", "reasoning_end_str": "</think>"}'``); without it every
                               request carrying the field is refused.
``"llama.cpp"``                ``thinking_budget_tokens`` (llama.cpp's ``llama-server``; the
                               server-wide default is ``--reasoning-budget N``, -1 unlimited, 0 no
                               thinking; the per-request field wins, ggml-org/llama.cpp PR
                               #23673). llama-cpp-python's server (0.3.x) has no reasoning option
                               at all: use budget forcing there.
``"openai"``                   ``reasoning_effort`` (OpenAI reasoning models): a level, not a
                               cap, so the budget picks the nearest level (:func:`effort_for`);
                               the hard cap is ``max_completion_tokens``.
completion-mode endpoints      budget forcing, s1 (Muennighoff et al. 2025): wrap the backend in
                               :class:`~langgraph_ttc.backends.forcing.BudgetForcingBackend`.
============================  ==============================================================

Whatever the server does with the budget, a reasoning backend asks for ``max_tokens +
thinking_budget`` tokens in all, so the budget is always a hard cap on the total.
"""

from __future__ import annotations

import logging
import threading
import urllib.parse
from dataclasses import replace
from typing import Any, Literal

from langgraph_ttc.backends.base import SamplingParams
from langgraph_ttc.errors import TTCConfigError

logger = logging.getLogger(__name__)

__all__ = [
    "THINKING_CONTROLS",
    "ThinkingControl",
    "detect_control",
    "effort_for",
    "thinking_fields",
    "within_tokens",
    "warn_once",
]

ThinkingControl = Literal["vllm", "llama.cpp", "openai"]
THINKING_CONTROLS: tuple[str, ...] = ("vllm", "llama.cpp", "openai")

# OpenAI publishes no token counts for its effort levels. The first design of vLLM's thinking
# budget (PR #20859, ReasoningConfig low/medium/high_effort_token_budget, dropped before the
# merge) mapped them to 1024, 2048 and 8192 thinking tokens: a budget picks the level whose
# anchor is nearest on a log scale, so the edges are the geometric means of the anchors.
_EFFORT_EDGES: tuple[tuple[float, str], ...] = (
    ((1024 * 2048) ** 0.5, "low"),  # 1448.2
    ((2048 * 8192) ** 0.5, "medium"),  # 4096
)

_warned: set[str] = set()
_warned_lock = threading.Lock()


def effort_for(thinking_budget: int) -> str:
    """The ``reasoning_effort`` nearest a thinking budget: low up to 1448 tokens, medium up to
    4096, high above (0, no thinking, is "low": the least every o-series model accepts).

    Example:
        >>> [effort_for(b) for b in (0, 1024, 2048, 4096, 4097, 32768)]
        ['low', 'low', 'medium', 'medium', 'high', 'high']
    """
    for edge, level in _EFFORT_EDGES:
        if thinking_budget <= edge:
            return level
    return "high"


def detect_control(
    base_url: str, control: str | None, *, vllm_extras: bool = False
) -> ThinkingControl | None:
    """The server's way of taking a thinking budget: ``control`` if given, else ``"openai"``
    for api.openai.com, ``"vllm"`` when vLLM's extra fields are on, else unknown (``None``).

    Example:
        >>> detect_control("https://api.openai.com/v1", None)
        'openai'
        >>> detect_control("http://127.0.0.1:8000/v1", None, vllm_extras=True)
        'vllm'
        >>> detect_control("http://127.0.0.1:8000/v1", None) is None
        True
    """
    if control is not None:
        if control not in THINKING_CONTROLS:
            raise TTCConfigError(
                f"thinking_control must be one of {', '.join(THINKING_CONTROLS)} (or None to "
                f"detect it); got {control!r}. For a completion endpoint without one, wrap the "
                "backend in BudgetForcingBackend(...)."
            )
        return control  # type: ignore[return-value]
    host = urllib.parse.urlsplit(base_url).hostname or ""
    if host == "api.openai.com":
        return "openai"
    return "vllm" if vllm_extras else None


def thinking_fields(control: ThinkingControl | None, params: SamplingParams) -> dict[str, Any]:
    """The request fields that carry ``params.thinking_budget`` to a server (none without one).

    Example:
        >>> thinking_fields("vllm", SamplingParams(thinking_budget=512))
        {'thinking_token_budget': 512}
        >>> thinking_fields("openai", SamplingParams(thinking_budget=8192))
        {'reasoning_effort': 'high'}
        >>> thinking_fields("llama.cpp", SamplingParams())
        {}
    """
    budget = params.thinking_budget
    if budget is None or control is None:
        return {}
    if control == "vllm":
        return {"thinking_token_budget": budget}
    if control == "llama.cpp":
        return {"thinking_budget_tokens": budget}
    return {"reasoning_effort": effort_for(budget)}


def within_tokens(params: SamplingParams, cap: int, room: int) -> SamplingParams:
    """``params`` shrunk so one sample generates at most ``cap`` tokens, thinking included, when
    ``params.max_tokens + room`` would exceed it: the thinking gives way first, so the sample
    can still answer; below the answer's length there is no room to think at all.

    Example:
        >>> p = within_tokens(SamplingParams(max_tokens=256), cap=1000, room=16384)
        >>> p.max_tokens, p.thinking_budget
        (256, 744)
        >>> p = within_tokens(SamplingParams(max_tokens=256), cap=100, room=0)
        >>> p.max_tokens, p.thinking_budget
        (100, None)
    """
    if params.max_tokens + room <= cap:
        return params
    if room <= 0 and params.thinking_budget is None:
        return replace(params, max_tokens=cap)
    if cap >= params.max_tokens:
        return replace(params, thinking_budget=cap - params.max_tokens)
    return replace(params, max_tokens=cap, thinking_budget=0)


def warn_once(key: str, message: str, *args: Any) -> None:
    """Log ``message`` as a warning the first time ``key`` is seen in this process (a backend
    that cannot honour a knob says so once, not on every request)."""
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    logger.warning(message, *args)
