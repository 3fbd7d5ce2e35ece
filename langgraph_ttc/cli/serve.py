"""``langgraph-ttc serve``: the OpenAI-compatible server on uvicorn (see
:mod:`langgraph_ttc.serve`)."""

from __future__ import annotations

import argparse
import sys

from langgraph_ttc.extras import require

__all__ = ["app_from_args", "main"]


def app_from_args(args: argparse.Namespace):
    """The app the flags describe (the server's defaults and caps); building it needs only
    Starlette, which :mod:`langgraph_ttc.serve.app` asks for itself."""
    from langgraph_ttc.serve import Limits, create_app

    limits = Limits(
        max_calls=args.max_calls,
        max_tokens=args.max_tokens,
        max_seconds=args.max_seconds,
        max_choices=args.max_choices,
        max_prompts=args.max_prompts,
        max_body_bytes=args.max_body_bytes,
        max_running=args.max_running,
        max_waiting=args.max_waiting,
    )
    return create_app(
        args.backend,
        model=args.model,
        strategy=args.strategy,
        n=args.n,
        budget_calls=args.budget_calls,
        budget_tokens=args.budget_tokens,
        thinking_budget=args.thinking_budget,
        policy=args.policy,
        limits=limits,
        api_keys=args.api_key,
        progress=args.progress,
    )


def main(args: argparse.Namespace) -> int:
    uvicorn = require("uvicorn", "serve", "langgraph-ttc serve")
    app = app_from_args(args)
    server = app.state.ttc
    keys = "API keys required" if server.api_keys else "no API key needed"
    print(
        f"langgraph-ttc serve: {server.engine.base.model_id} on http://{args.host}:{args.port}/v1 "
        f"({keys}; default method: {args.strategy or 'none, plain names pass through'})",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
