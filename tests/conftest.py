"""Shared fixtures: deterministic fake backends with known per-question accuracy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from langgraph_ttc.testing import FakeBackend, NoisyOracle
from langgraph_ttc.testing.instant_server import InstantServer

QUESTIONS = {
    "What is 3 + 5?": ("8", 0.7),
    "What is 17 * 23?": ("391", 0.2),
    "What is 1 + 1?": ("2", 1.0),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak",
        type=int,
        default=None,
        metavar="ROUNDS",
        help="run the kill -9 soak in tests/soak for ROUNDS rounds instead of its short default",
    )


@pytest.fixture
def oracle() -> NoisyOracle:
    return NoisyOracle(QUESTIONS, critique_accuracy=0.9)


@pytest.fixture(params=[True, False], ids=["n-honoured", "n-ignored"])
def fake_backend(request, oracle) -> FakeBackend:
    return FakeBackend(reply=oracle, honours_n=request.param)


@pytest.fixture
def instant_server() -> Iterator[InstantServer]:
    """A fresh in-process OpenAI-compatible server that honours ``n`` (set ``honour_n`` to change)."""
    with InstantServer() as server:
        yield server


@pytest.fixture
def serve():
    """Start ASGI apps with uvicorn on 127.0.0.1; every one is stopped at teardown, failed test
    or not (the serve extra is imported only by the tests that use this)."""
    from langgraph_ttc.serve.background import BackgroundServer

    started: list[BackgroundServer] = []

    def start(app) -> BackgroundServer:
        server = BackgroundServer(app).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
