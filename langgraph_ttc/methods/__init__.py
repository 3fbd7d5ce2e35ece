"""Methods that aggregate with the model, one module each.

A method is one module that registers what it adds to the library's registries, which every
other part reads (the graph factory, plans and their edges, the budget arithmetic, the CLI,
curves, calibrate and compare):

* its strategy config (:func:`~langgraph_ttc.strategies.register_strategy`): the options it owns
  (a frozen dataclass; the plan carries them as ``Plan.options``) and its :meth:`plan
  <langgraph_ttc.strategies.Strategy.plan>` from a call budget;
* its vote (:func:`~langgraph_ttc.aggregators.register_aggregator`): what it needs, the
  stages it adds (``extra_stages``), what one attempt and one run cost (``attempt_calls``,
  ``run_calls``), and whether a pool can replay it (``not_replayable``: the reason the pool
  tools skip it);
* the node of each stage it adds (:func:`~langgraph_ttc.nodes.stages.register_stage`), whose
  model calls go through the run's :class:`~langgraph_ttc.budget.Meter` under a purpose of
  their own (``select``, ``aggregate``);
* its prompts.

A step-level search (particle filtering) registers only its strategy: the search graph's
select, expand and score nodes are shared, and the strategy's ``widths`` is its rule.

A method that changes how samples are drawn registers its strategy and a
:class:`~langgraph_ttc.nodes.hooks.GenerationHook` (a trace watch, a draw-wide stop that
cancels, a plan update after each round) named by its plans' ``method``:
:mod:`~langgraph_ttc.methods.deepconf_online` (DeepConf online),
:mod:`~langgraph_ttc.methods.adaptive_consistency` (Adaptive-Consistency).

Built-in: :mod:`~langgraph_ttc.methods.genselect` (GenSelect),
:mod:`~langgraph_ttc.methods.rsa` (recursive self-aggregation),
:mod:`~langgraph_ttc.methods.particle_filter` (particle filtering). A method of one's own is
written the same way in any module and loaded with :func:`langgraph_ttc.plugins.load_plugin`,
``--plugin`` on the command line, or the ``langgraph_ttc.methods`` entry point group.
"""

from langgraph_ttc.methods.adaptive_consistency import AdaptiveConsistency, AdaptiveConsistencyHook
from langgraph_ttc.methods.deepconf_online import DeepConfOnline, DeepConfOnlineHook
from langgraph_ttc.methods.genselect import GenSelect, GenSelectNode, GenSelectVote
from langgraph_ttc.methods.particle_filter import ParticleFilter
from langgraph_ttc.methods.rsa import RSA, RecombineNode, RSAVote

__all__ = [
    "RSA",
    "AdaptiveConsistency",
    "AdaptiveConsistencyHook",
    "DeepConfOnline",
    "DeepConfOnlineHook",
    "GenSelect",
    "GenSelectNode",
    "GenSelectVote",
    "ParticleFilter",
    "RSAVote",
    "RecombineNode",
]
