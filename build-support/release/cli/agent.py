"""`./inv agent`: the agent (agent/reconciler.py) wired to Docker, with its HTTP
endpoints and its signals. SIGTERM and Ctrl-C ask the loop to stop between passes;
SIGTERM during a deploy also aborts that deploy like Ctrl-C aborts `./inv deploy`
(rolled back, lock released, recorded "interrupted"), so `docker stop` or systemd
never wait for a whole rollout nor kill one halfway."""

from __future__ import annotations

import os
import secrets
import signal

from release.adapters import agent_http
from release.agent import dashboard
from release.agent.config import AgentConfig, parse_listen
from release.base.errors import UsageError
from release.agent.reconciler import Agent
from release.cli import wiring


def on_sigterm(agent: Agent):
    """The agent's SIGTERM handler: stop after this pass, and abort a deploy now."""

    def handler(signum, frame):
        agent.stop()
        if agent.deploying.is_set():
            raise KeyboardInterrupt

    return handler


MIN_TOKEN_CHARS = 16


def http_token(config: AgentConfig, host: str) -> tuple[str | None, str]:
    """The bearer token the HTTP endpoints require, and the file it lives in.

    --token-file wins (it must hold a token of 16+ characters). Without it, loopback
    needs none; off loopback the agent keeps one in its state directory (created
    once, mode 0600) and says where."""
    if config.token_file:
        try:
            token = open(config.token_file, encoding="utf-8").read().strip()
        except OSError as exc:
            raise UsageError(
                f"--token-file {config.token_file}: {exc.strerror}"
            ) from None
        if len(token) < MIN_TOKEN_CHARS:
            raise UsageError(
                f"--token-file {config.token_file} holds no token of "
                f"{MIN_TOKEN_CHARS}+ characters"
            )
        return token, config.token_file
    if agent_http.is_loopback(host):
        return None, ""
    path = config.generated_token_path
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text(encoding="utf-8").strip(), str(path)


def run(config: AgentConfig) -> int:
    """The task's entry point; returns the exit code of the agent's loop."""
    agent = Agent(config, wiring.host_access())
    server = None
    if config.listen:
        host, port = parse_listen(config.listen)
        token, token_path = http_token(config, host)
        server = agent_http.serve(agent, host, port, dashboard.render, token)
        agent.log(
            "listening",
            url=f"http://{host}:{server.server_address[1]}/",
            token_file=token_path or None,  # where the token lives, never the token
        )
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
