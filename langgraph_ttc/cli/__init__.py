"""The ``langgraph-ttc`` command: ``run`` answers a question; ``curves`` and ``plot`` measure
accuracy against the number of calls; ``calibrate`` and ``compare`` fit and test the router.

Arguments live in :mod:`~langgraph_ttc.cli.arguments` (imported by ``--help``, nothing heavy);
each command's body in its own module (:mod:`~langgraph_ttc.cli.run`,
:mod:`~langgraph_ttc.cli.curves`, :mod:`~langgraph_ttc.cli.policy`), loaded when it runs.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

from langgraph_ttc._version import __version__
from langgraph_ttc.cli.arguments import build_parser
from langgraph_ttc.errors import TTCError

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (2 for a usage or configuration error).

    Example:
        >>> main(["tasks"])  # doctest: +ELLIPSIS
        humaneval
        rg:...
        0
    """
    args = build_parser(__version__).parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s"
    )
    try:
        if getattr(args, "plugins", None):
            from langgraph_ttc.plugins import load_plugin  # only when asked: --help stays light

            for plugin in args.plugins:
                load_plugin(plugin)
        if getattr(args, "strategy", None) not in (None, "none"):  # serve takes "none"
            # Checked against the registry once plugins are in (argparse has no fixed list).
            from langgraph_ttc.strategies import strategy_names

            names = strategy_names()
            if args.strategy not in names:
                prog = f"langgraph-ttc {args.subcommand}"
                print(
                    f"{prog}: error: argument --strategy: invalid choice: {args.strategy!r} "
                    f"(choose from {', '.join(names)}; --plugin adds your own) "
                    f"(see `{prog} --help`)",
                    file=sys.stderr,
                )
                return 2
        command = importlib.import_module(f"langgraph_ttc.cli.{args.command}")
        return command.main(args) or 0
    except TTCError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # One line, and out at once: requests still in flight on worker threads (and the
        # embedded model mid-sample) are abandoned, not waited for. Pools are consistent at
        # every moment (they resume), so nothing is lost.
        print("interrupted", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(130)
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
