"""`./inv agent`: the agent (agent/reconciler.py) wired to Docker, with its HTTP
endpoints and its signals. SIGTERM and Ctrl-C ask the loop to stop between passes;
SIGTERM during a deploy also aborts that deploy like Ctrl-C aborts `./inv deploy`
(rolled back, lock released, recorded "interrupted"), so `docker stop` or systemd
never wait for a whole rollout nor kill one halfway."""

from __future__ import annotations

import signal

from release.adapters import agent_http
from release.agent import dashboard
from release.agent.config import AgentConfig, parse_listen
from release.agent.reconciler import Agent
from release.cli import wiring


def on_sigterm(agent: Agent):
    """The agent's SIGTERM handler: stop after this pass, and abort a deploy now."""

    def handler(signum, frame):
        agent.stop()
        if agent.deploying.is_set():
            raise KeyboardInterrupt

    return handler


def run(config: AgentConfig) -> int:
    """The task's entry point; returns the exit code of the agent's loop."""
    agent = Agent(config, wiring.host_access())
    server = None
    if config.listen:
        host, port = parse_listen(config.listen)
        server = agent_http.serve(agent, host, port, dashboard.render)
        agent.log("listening", url=f"http://{host}:{server.server_address[1]}/")
    previous = {
        signal.SIGTERM: signal.signal(signal.SIGTERM, on_sigterm(agent)),
        signal.SIGINT: signal.signal(signal.SIGINT, agent.stop),
    }
    try:
        return agent.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if server is not None:
            server.shutdown()
            server.server_close()
