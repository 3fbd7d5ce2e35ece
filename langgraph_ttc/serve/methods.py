"""Which test-time-compute method a request asks for, three ways, and which way wins.

A request names its method in its model name, in ``extra_body={"ttc": {...}}``, or in
``X-TTC-*`` headers; the server's flags give the default. Field by field, the most specific
wins::

    server default  <  model name  <  X-TTC-* headers  <  the body's "ttc" object

Model names (the part after ``/`` is the upstream model; without it, the server's model):

=============================  =====================================================
``qwen3-8b``                   no method: passed straight through (one upstream call)
``majority/qwen3-8b``          a strategy with its own default n
``majority@8/qwen3-8b``        majority vote over 8 samples
``adaptive@16/qwen3-8b``       the router, 16 calls per question
``deepconf_online@32/...``     DeepConf online over 32 traces
``none/qwen3-8b``              pass-through, even when the server has a default method
=============================  =====================================================

The ``ttc`` object (and its header twins): ``strategy`` (``X-TTC-Strategy``), ``n``
(``X-TTC-N``: the method's calls per question), ``budget`` (``{"calls", "tokens", "seconds"}``,
or a number of calls; ``X-TTC-Budget-Calls``, ``X-TTC-Budget-Tokens``,
``X-TTC-Budget-Seconds``), ``thinking_budget`` (``X-TTC-Thinking-Budget``), ``policy`` (an
inline policy object, for ``adaptive``), ``progress`` (``X-TTC-Progress``: progress events
in the stream), and for a list prompt on ``/v1/completions`` answered as one batch,
``batch_budget`` (``X-TTC-Batch-Budget``: mean samples per prompt), ``batch_cap``
(``X-TTC-Batch-Cap``: the most one prompt may get) and ``batch_pooled`` (``X-TTC-Batch-Pooled``:
the batch's own prior, shrunk toward the policy's by this many pseudo-questions; opt-in), see
:mod:`langgraph_ttc.serve.batching`.

Example:
    >>> resolve_method("majority@8/qwen3-8b", {}, None).describe()
    'majority@8/qwen3-8b'
    >>> resolve_method("qwen3-8b", {}, {"strategy": "filter_vote", "n": 4}).describe()
    'filter_vote@4/qwen3-8b'
    >>> resolve_method("Qwen/Qwen3-8B", {}, None).passthrough
    True
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langgraph_ttc.serve.errors import bad_request
from langgraph_ttc.strategies import strategy_names

__all__ = ["PASSTHROUGH", "Method", "resolve_method", "split_model_name"]

PASSTHROUGH = "none"  # the method name of a plain upstream call
DEFAULT_STRATEGY = "majority"  # for requests that set n or a budget but no method
_NAME = re.compile(r"^(?P<method>[A-Za-z_][A-Za-z0-9_]*)(?:@(?P<n>[^/]*))?$")
_TTC_KEYS = (
    "strategy",
    "n",
    "budget",
    "thinking_budget",
    "policy",
    "progress",
    "batch_budget",
    "batch_cap",
    "batch_pooled",
)
_BUDGET_KEYS = ("calls", "tokens", "seconds")
# Header -> (ttc key, budget key or None).
HEADERS = {
    "x-ttc-strategy": ("strategy", None),
    "x-ttc-n": ("n", None),
    "x-ttc-budget-calls": ("budget", "calls"),
    "x-ttc-budget-tokens": ("budget", "tokens"),
    "x-ttc-budget-seconds": ("budget", "seconds"),
    "x-ttc-thinking-budget": ("thinking_budget", None),
    "x-ttc-progress": ("progress", None),
    "x-ttc-batch-budget": ("batch_budget", None),
    "x-ttc-batch-cap": ("batch_cap", None),
    "x-ttc-batch-pooled": ("batch_pooled", None),
}


@dataclass(frozen=True)
class Method:
    """A request's resolved method. ``strategy`` None means a plain pass-through call.

    ``model`` is the upstream model named after the ``/`` (None: the server's own).

    Example:
        >>> resolve_method("adaptive/qwen3-8b", {}, {"n": 16})
        Method(strategy='adaptive', n=16, model='qwen3-8b', budget_calls=None, budget_tokens=None, budget_seconds=None, thinking_budget=None, policy=None, progress=False, batch_budget=None, batch_cap=None, batch_pooled=None)
    """

    strategy: str | None = None
    n: int | None = None
    model: str | None = None
    budget_calls: int | None = None
    budget_tokens: int | None = None
    budget_seconds: float | None = None
    thinking_budget: int | None = None
    policy: dict | None = None
    progress: bool = False
    batch_budget: float | None = None
    batch_cap: int | None = None
    batch_pooled: float | None = None

    @property
    def passthrough(self) -> bool:
        return self.strategy is None

    def describe(self) -> str:
        """The method as a model name (``majority@8/model``), for replies and metrics."""
        model = self.model or ""
        if self.passthrough:
            return model
        head = self.strategy if self.n is None else f"{self.strategy}@{self.n}"
        return f"{head}/{model}" if model else head


def split_model_name(name: str) -> tuple[dict[str, Any], str | None]:
    """The method fields a model name sets, and the upstream model it names.

    A first segment that is a strategy name (with an optional ``@n``) is a method; any other
    name is an upstream model (``Qwen/Qwen3-8B`` stays whole). A first segment with ``@`` that
    is no strategy is refused: it can only be a misspelt method.

    Example:
        >>> split_model_name("majority@8/qwen3-8b")
        ({'strategy': 'majority', 'n': 8}, 'qwen3-8b')
        >>> split_model_name("Qwen/Qwen3-8B")
        ({}, 'Qwen/Qwen3-8B')
    """
    head, slash, rest = name.partition("/")
    found = _NAME.match(head)
    if found is None or (
        found["n"] is None and head not in strategy_names() and head != PASSTHROUGH
    ):
        if "@" in head:
            raise _unknown(head.split("@")[0], "model")
        return {}, name or None
    method = found["method"]
    if method != PASSTHROUGH and method not in strategy_names():
        raise _unknown(method, "model")
    fields: dict[str, Any] = {"strategy": method}
    if found["n"] is not None:
        if method == PASSTHROUGH:
            raise bad_request(f"{PASSTHROUGH!r} takes no @n; got {head!r}.", param="model")
        fields["n"] = _int(found["n"], "model", f"the n of {head!r}")
    return fields, (rest if slash else None) or None


def resolve_method(
    model_name: str,
    headers: Mapping[str, str],
    ttc: Any,
    default: Mapping[str, Any] | None = None,
) -> Method:
    """The request's method: ``default`` < model name < ``X-TTC-*`` headers < ``ttc`` object.

    ``headers`` is the request's (case-insensitive) headers, or a dict with lower-case names.

    Raises:
        APIError: 400 for an unknown method or option, or a value of the wrong kind.

    Example:
        >>> method = resolve_method("majority@8/qwen3-8b", {"x-ttc-n": "4"}, None)
        >>> method.strategy, method.n, method.model
        ('majority', 4, 'qwen3-8b')
        >>> resolve_method("qwen3-8b", {}, None).strategy is None  # a plain name passes through
        True
    """
    fields: dict[str, Any] = dict(default or {})
    from_name, upstream = split_model_name(model_name)
    _merge(fields, from_name)
    _merge(fields, _from_headers(headers))
    _merge(fields, _from_body(ttc))
    strategy = fields.get("strategy")
    budget = fields.get("budget") or {}
    options = (fields.get(k) is not None for k in ("n", "policy", "batch_budget", "batch_cap"))
    if strategy is None and (budget or any(options)):
        strategy = DEFAULT_STRATEGY  # method options without a method: a majority vote
    if strategy == PASSTHROUGH:
        strategy = None
    elif strategy is not None and strategy not in strategy_names():
        raise _unknown(str(strategy), "ttc.strategy")
    method = Method(
        strategy=strategy,
        n=fields.get("n"),
        model=upstream,
        budget_calls=budget.get("calls"),
        budget_tokens=budget.get("tokens"),
        budget_seconds=budget.get("seconds"),
        thinking_budget=fields.get("thinking_budget"),
        policy=fields.get("policy"),
        progress=bool(fields.get("progress", False)),
        batch_budget=fields.get("batch_budget"),
        batch_cap=fields.get("batch_cap"),
        batch_pooled=fields.get("batch_pooled"),
    )
    return method


def _merge(into: dict[str, Any], more: Mapping[str, Any]) -> None:
    for key, value in more.items():
        if key == "budget":
            into["budget"] = {**(into.get("budget") or {}), **value}
        else:
            into[key] = value


def _from_headers(headers: Mapping[str, str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for header, (key, sub) in HEADERS.items():
        raw = headers.get(header)
        if raw is None:
            continue
        raw = raw.strip()
        where = header.title().replace("Ttc", "TTC")
        if key == "strategy":
            fields[key] = raw
        elif key == "progress":
            fields[key] = raw.lower() in ("1", "true", "yes", "on")
        elif key == "batch_budget":
            fields[key] = _mean(raw, where)
        elif key == "batch_pooled":
            fields[key] = _pseudo(raw, where)
        elif sub is not None:
            number = _float(raw, where) if sub == "seconds" else _int(raw, where, where)
            fields.setdefault("budget", {})[sub] = number
        else:
            fields[key] = _int(raw, where, where)
    return fields


def _from_body(ttc: Any) -> dict[str, Any]:
    if ttc is None:
        return {}
    if not isinstance(ttc, Mapping):
        raise bad_request(f"'ttc' must be an object; got {type(ttc).__name__}.", param="ttc")
    unknown = sorted(set(ttc) - set(_TTC_KEYS))
    if unknown:
        raise bad_request(
            f"Unknown ttc option(s) {unknown}; the options are {list(_TTC_KEYS)}.", param="ttc"
        )
    fields: dict[str, Any] = {}
    if "strategy" in ttc and ttc["strategy"] is not None:
        if not isinstance(ttc["strategy"], str):
            raise bad_request("ttc.strategy must be a string.", param="ttc.strategy")
        fields["strategy"] = ttc["strategy"]
    if ttc.get("batch_budget") is not None:
        fields["batch_budget"] = _mean(ttc["batch_budget"], "ttc.batch_budget")
    if ttc.get("batch_pooled") is not None:
        fields["batch_pooled"] = _pseudo(ttc["batch_pooled"], "ttc.batch_pooled")
    for key in ("n", "thinking_budget", "batch_cap"):
        if ttc.get(key) is not None:
            fields[key] = _int(ttc[key], f"ttc.{key}", f"ttc.{key}")
    if ttc.get("budget") is not None:
        fields["budget"] = _budget(ttc["budget"])
    if ttc.get("policy") is not None:
        if not isinstance(ttc["policy"], Mapping):
            raise bad_request(
                "ttc.policy must be a policy object (the JSON `langgraph-ttc calibrate` writes).",
                param="ttc.policy",
            )
        fields["policy"] = dict(ttc["policy"])
    if "progress" in ttc:
        fields["progress"] = bool(ttc["progress"])
    return fields


def _budget(value: Any) -> dict[str, Any]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"calls": _int(value, "ttc.budget", "ttc.budget")}
    if not isinstance(value, Mapping):
        raise bad_request(
            'ttc.budget must be a number of calls or {"calls", "tokens", "seconds"}.',
            param="ttc.budget",
        )
    unknown = sorted(set(value) - set(_BUDGET_KEYS))
    if unknown:
        raise bad_request(
            f"Unknown ttc.budget key(s) {unknown}; use {list(_BUDGET_KEYS)}.", param="ttc.budget"
        )
    out: dict[str, Any] = {}
    for key in ("calls", "tokens"):
        if value.get(key) is not None:
            out[key] = _int(value[key], f"ttc.budget.{key}", f"ttc.budget.{key}")
    if value.get("seconds") is not None:
        out["seconds"] = _float(value["seconds"], "ttc.budget.seconds")
    return out


def _int(value: Any, param: str, what: str) -> int:
    try:
        number = int(value) if not isinstance(value, (bool, float)) else None
    except (TypeError, ValueError):
        number = None
    if isinstance(value, float) and value.is_integer():
        number = int(value)
    if number is None or number < 1:
        raise bad_request(f"{what} must be a whole number >= 1; got {value!r}.", param=param)
    return number


def _mean(value: Any, param: str) -> float:
    """A batch budget: mean samples per prompt, a number >= 1 (a header's text too)."""
    return _number(value, param, 1, "the mean samples per prompt")


def _pseudo(value: Any, param: str) -> float:
    """A pooled prior's strength: pseudo-questions, a number >= 0 (a header's text too)."""
    return _number(value, param, 0, "pseudo-questions of the policy's prior")


def _number(value: Any, param: str, least: float, meaning: str) -> float:
    """A finite number >= ``least`` (a header's text too); a 400 naming ``param`` otherwise."""
    try:
        number = float(value) if not isinstance(value, bool) else least - 1
    except (TypeError, ValueError):
        number = least - 1
    if not number >= least or number == float("inf"):
        raise bad_request(
            f"{param} must be a number >= {least} ({meaning}); got {value!r}.", param=param
        )
    return number


def _float(value: Any, param: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if isinstance(value, bool) or not number > 0:
        raise bad_request(f"{param} must be a number of seconds > 0; got {value!r}.", param=param)
    return number


def _unknown(name: str, param: str):
    return bad_request(
        f"Unknown method {name!r}. Methods: {', '.join(strategy_names())} (or {PASSTHROUGH!r} for a "
        "plain upstream call); name one as <method>[@n]/<model>, e.g. majority@8/my-model.",
        param=param,
        code="unknown_method",
    )
