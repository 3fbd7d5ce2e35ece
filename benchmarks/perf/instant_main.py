"""The instant server in its own process, so it never shares a GIL or an RSS with a contender.

python benchmarks/perf/instant_main.py [--honour-n] [--delay-s S]

Prints ``READY <base_url>`` and then answers one line per stdin command: ``stats`` (JSON of
what the server saw since the last reset), ``reset`` or ``gate N`` (hold answers until N
requests are in flight at once; see ``InstantServer``'s ``gate``). Exits on EOF or ``quit``.
"""

from __future__ import annotations

import argparse
import json
import sys

from langgraph_ttc.testing import instant_server
from langgraph_ttc.testing.instant_server import InstantServer, ServerStats

# socketserver's default listen backlog is 5: a burst of 16+ new connections then sees resets and
# the clients' retries, which would be measured as client overhead. Benchmarks need a deep queue.
instant_server._Server.request_queue_size = 1024


def prompt_words(body: dict) -> int:
    """Prompt tokens as the instant server counts them (whitespace-separated words)."""
    if "messages" in body:
        text = "\n".join(str(m.get("content") or "") for m in body["messages"])
    else:
        text = str(body.get("prompt", ""))
    return len(text.split())


class Tally:
    """Running totals, so ``ServerStats.bodies`` can be emptied and memory stays flat."""

    def __init__(self) -> None:
        self.requests = self.samples_asked = self.prompt_tokens = 0

    def absorb(self, server: InstantServer) -> None:
        with server._lock:
            bodies, server.stats.bodies = server.stats.bodies, []
            self.requests += server.stats.requests
            server.stats.requests = 0
        for body in bodies:
            self.samples_asked += int(body.get("n") or 1)
            self.prompt_tokens += prompt_words(body)

    def to_dict(self, server: InstantServer) -> dict:
        return {
            "requests": self.requests,
            "samples_asked": self.samples_asked,
            "prompt_tokens": self.prompt_tokens,
            "max_in_flight": server.stats.max_in_flight,
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--honour-n", action="store_true")
    parser.add_argument("--delay-s", type=float, default=0.0)
    args = parser.parse_args()
    server = InstantServer(honour_n=args.honour_n, delay_s=args.delay_s).start()
    tally = Tally()
    print(f"READY {server.base_url}", flush=True)
    try:
        for line in sys.stdin:
            command = line.strip()
            tally.absorb(server)
            if command == "stats":
                print(json.dumps(tally.to_dict(server)), flush=True)
            elif command == "reset":
                tally = Tally()
                with server._lock:
                    server.stats = ServerStats()
                print("{}", flush=True)
            elif command.startswith("gate "):
                server.gate = int(command.split()[1])
                print("{}", flush=True)
            elif command == "quit":
                break
    finally:
        server.stop()


if __name__ == "__main__":
    main()
