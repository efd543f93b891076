import threading

import pytest

from release.cli.agent import on_sigterm


class Loop:  # the two things of Agent the handler touches
    def __init__(self):
        self.stop_event = threading.Event()
        self.deploying = threading.Event()

    def stop(self, *_args):
        self.stop_event.set()


def test_sigterm_between_passes_only_stops_the_loop():
    agent = Loop()
    on_sigterm(agent)(15, None)
    assert agent.stop_event.is_set()


def test_sigterm_during_a_deploy_aborts_it_like_ctrl_c():
    agent = Loop()
    agent.deploying.set()
    with pytest.raises(KeyboardInterrupt):
        on_sigterm(agent)(15, None)
    assert agent.stop_event.is_set()  # and the loop ends after the rolled-back pass


def test_http_token_generated_off_loopback_and_read_from_a_file(tmp_path):
    from release.agent.config import AgentConfig
    from release.base.errors import UsageError
    from release.cli import agent as agent_cli

    config = AgentConfig(env="staging", repo="/r", home=tmp_path / "home")
    assert agent_cli.http_token(config, "127.0.0.1") == (None, "")
    token, where = agent_cli.http_token(config, "192.0.2.2")
    assert where == str(tmp_path / "home" / "http.token") and len(token) >= 32
    assert (tmp_path / "home" / "http.token").stat().st_mode & 0o077 == 0
    assert agent_cli.http_token(config, "192.0.2.2")[0] == token  # kept across runs
    short = tmp_path / "short"
    short.write_text("abc\n")
    with pytest.raises(UsageError, match="16\\+ characters"):
        agent_cli.http_token(
            AgentConfig(env="staging", repo="/r", token_file=str(short)), "0.0.0.0"
        )
    good = tmp_path / "good"
    good.write_text("g" * 20 + "\n")
    cfg = AgentConfig(env="staging", repo="/r", token_file=str(good))
    assert agent_cli.http_token(cfg, "127.0.0.1") == ("g" * 20, str(good))
