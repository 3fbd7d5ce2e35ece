"""The server as Ray Serve replicas on a local Ray (2 CPUs, one session for this module): the
documented config file validates, its application deploys as two replicas, and the ``openai``
SDK gets answers through Serve's HTTP proxy, from both replicas at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest
import yaml

from langgraph_ttc.distributed import deployment_options, ttc_app
from langgraph_ttc.testing.instant_server import InstantServer
from langgraph_ttc.testing.processes import free_port

pytestmark = pytest.mark.integration

CONFIG = Path(__file__).parents[2] / "examples" / "ray_serve.yaml"


@pytest.fixture(scope="module")
def serve_port(ray_local):
    from ray import serve

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        yield port
    finally:
        serve.shutdown()


def test_the_config_file_is_a_valid_serve_config():
    from ray.serve.schema import ServeDeploySchema

    config = yaml.safe_load(CONFIG.read_text())
    schema = ServeDeploySchema.parse_obj(config)
    app = schema.applications[0]
    assert app.import_path == "langgraph_ttc.distributed.replicas:app_builder"
    deployment = app.deployments[0]
    assert deployment.name == "TTCServer"
    assert deployment.autoscaling_config["target_ongoing_requests"] > 0


def test_two_replicas_answer_the_openai_sdk(serve_port):
    from ray import serve

    config = yaml.safe_load(CONFIG.read_text())["applications"][0]
    # Held until two requests are upstream at once: with one request per replica, only two
    # replicas working side by side get there before the 20 s timeout.
    with InstantServer(gate=2, gate_timeout_s=20) as upstream:
        args = {**config["args"], "backend": upstream.base_url, "model": upstream.model}
        args["strategy"] = None  # plain model names pass through: one upstream call each
        options = deployment_options(num_replicas=2, max_ongoing_requests=1, num_cpus=0.5)
        serve.run(ttc_app(options, **args), name=config["name"], route_prefix="/")
        try:
            status = serve.status().applications[config["name"]]
            assert status.deployments["TTCServer"].replica_states == {"RUNNING": 2}
            client = openai.OpenAI(
                base_url=f"http://127.0.0.1:{serve_port}/v1", api_key="none", timeout=60
            )

            def ask(question: str):
                return client.chat.completions.create(
                    model=upstream.model,
                    messages=[{"role": "user", "content": question}],
                    max_tokens=32,
                )

            with ThreadPoolExecutor(2) as pool:
                replies = list(pool.map(ask, ["What is 2 + 3?", "What is 4 + 4?"]))
            assert upstream.stats.max_in_flight == 2  # both replicas at once
            for reply in replies:
                assert reply.choices[0].message.content.startswith("Let me think")

            method = client.chat.completions.create(
                model=f"majority@3/{upstream.model}",
                messages=[{"role": "user", "content": "What is 2 + 3?"}],
                max_tokens=32,
            )
            assert "The answer is" in method.choices[0].message.content
            assert method.usage.completion_tokens > 0
        finally:
            serve.delete(config["name"])
