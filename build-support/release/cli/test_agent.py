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
