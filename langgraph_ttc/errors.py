"""Errors raised by langgraph-ttc. Every message says what to change."""

from __future__ import annotations


class TTCError(Exception):
    """Base class of every error this library raises on purpose."""


class TTCConfigError(TTCError, ValueError):
    """A configuration cannot work: bad budget, unknown strategy or task, impossible plan.

    Example:
        >>> raise TTCConfigError("n must be >= 1; got 0. Pass n=1 or more.")
        Traceback (most recent call last):
        ...
        langgraph_ttc.errors.TTCConfigError: n must be >= 1; got 0. Pass n=1 or more.
    """


class TTCInputError(TTCError, ValueError):
    """The question or messages given cannot be answered (empty, too long, not text)."""


class BudgetExhausted(TTCError):
    """No call can be made within what is left of the budget."""


class BackendError(TTCError):
    """A model backend failed after its retries (unreachable endpoint, server errors)."""


class BackendUnavailable(BackendError):
    """The backend cannot be reached or loaded at all (wrong URL, missing extra)."""


class NoAnswer(TTCError):
    """No sample gave an answer where the caller asked for one (a chat model's reply, a
    Runnable's output); the message says why and what to try.

    Example:
        >>> issubclass(NoAnswer, TTCError)
        True
    """


class SampleFailed(TTCError):
    """Samples failed and the run's failure policy is ``"raise"``."""


class SandboxUnavailable(TTCConfigError):
    """Model-written code would run without a sandbox boundary, and nobody opted in.

    The message names what is missing (``bwrap``, user namespaces, a process limit for root)
    and the opt-in: ``allow_unsandboxed=True`` in Python, ``--allow-unsandboxed`` on the CLI.
    """
