import pytest

from release.adapters import proxy as p
from release.model.proxy import by_addr

STATE = """1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight
6 waste 1 waste1 172.24.0.3 2 0 1 1 543 15 3 2 6 0 0 0 waste 8000 - 0 0 - - 0
6 waste 2 waste2 172.24.0.4 2 8 1 1 543 15 3 2 6 0 0 0 waste 8000 - 0 0 - - 0
6 waste 3 waste3 172.24.0.9 0 1 1 1 543 15 3 2 6 0 0 0 waste 8000 - 0 0 - - 0
6 waste 4 waste4 - 0 32 1 1 557 1 0 0 14 0 0 0 waste 8000 - 0 0 - - 0
6 waste 5 waste5 - 0 33 1 1 557 1 0 0 14 0 0 0 waste 8000 - 0 0 - - 0
"""

STAT = """# pxname,svname,qcur,qmax,scur,smax,status,weight,
waste,waste1,0,0,3,7,UP,1,
waste,waste2,0,0,1,2,DRAIN,1,
waste,waste3,0,0,0,0,MAINT,1,
waste,BACKEND,0,0,4,9,UP,2,
"""


def test_parse_state_and_stat_into_servers():
    servers = p.merge(p.parse_servers_state(STATE), p.parse_stat(STAT))
    by_name = {s.name: s for s in servers}
    assert list(by_name) == ["waste1", "waste2", "waste3", "waste4", "waste5"]
    one, two, three, four, five = servers
    assert (one.addr, one.scur, one.status, one.up, one.forced) == (
        "172.24.0.3",
        3,
        "UP",
        True,
        False,
    )
    assert two.forced and not two.up and two.scur == 1  # draining
    assert three.forced and not three.up  # parked new replica
    assert four.empty and not four.forced  # empty slot, free
    assert five.empty and five.forced  # empty slot, parked by us
    assert set(by_addr(servers)) == {"172.24.0.3", "172.24.0.4", "172.24.0.9"}


def test_commands_are_built_in_one_place():
    assert p.set_state_command("waste", "waste3", "drain") == (
        "set server waste/waste3 state drain"
    )
    assert p.servers_state_command("auth") == "show servers state auth"
    assert p.stat_command("auth") == "show stat auth 4 -1"
    assert p.servers_state_command() == "show servers state"  # every backend
    assert p.stat_command() == "show stat -1 4 -1"
    cmd = p.exec_command(["show info", "show stat"])
    assert cmd[:2] == ["sh", "-c"] and cmd[3:] == ["sh", "show info", "show stat"]
    assert p.ADMIN_SOCKET in cmd[2] and "show" not in cmd[2]  # arguments, not code
    py = p.exec_command(["show info"], python=True)
    assert py[:2] == ["python3", "-c"] and py[3:] == ["show info"]
    assert p.ADMIN_SOCKET in py[2]
    with pytest.raises(ValueError):
        p.set_state_command("waste", "waste1", "up; shutdown")


def test_outputs_are_split_per_command():
    text = f"a\n\n{p._END}\nb\n{p._END}\n"
    assert p.split_outputs(text, 2) == ["a", "b"]
    with pytest.raises(p.ProxyError):
        p.split_outputs(f"a\n{p._END}\n", 2)


class FakeContainer:
    name = "proj-proxy-1"

    def __init__(self, answers, socat=True):
        self.answers = answers
        self.socat = socat
        self.calls = []

    def exec_run(self, cmd, **kwargs):
        if cmd[0] == "sh" and not self.socat:
            return 127, b"sh: 1: socat: not found\n"
        self.calls.append(cmd[4:] if cmd[0] == "sh" else cmd[3:])
        return 0, "".join(f"{a}\n{p._END}\n" for a in self.answers).encode()


def test_set_state_batches_and_reports_refusals():
    c = FakeContainer(["", ""])
    p.Proxy(c).set_state("waste", ["waste2", "waste1", "waste2"], "ready")
    assert c.calls == [
        ["set server waste/waste1 state ready", "set server waste/waste2 state ready"]
    ]
    with pytest.raises(p.ProxyError, match="No such server"):
        p.Proxy(FakeContainer(["No such server."])).set_state("waste", ["x"], "ready")
    p.Proxy(c).set_state("waste", [], "ready")  # nothing to do: no exec
    assert len(c.calls) == 1


def test_falls_back_to_python_without_socat():
    c = FakeContainer([""], socat=False)
    proxy = p.Proxy(c)
    proxy.set_state("waste", ["waste1"], "maint")
    proxy.set_state("waste", ["waste2"], "maint")
    assert proxy.python and c.calls == [
        ["set server waste/waste1 state maint"],
        ["set server waste/waste2 state maint"],
    ]


class ShortFirst(FakeContainer):
    """Answers the first `short` execs with the output cut after one command."""

    def __init__(self, answers, short):
        super().__init__(answers)
        self.short = short

    def exec_run(self, cmd, **kwargs):
        code, out = super().exec_run(cmd, **kwargs)
        if self.short:
            self.short -= 1
            out = out[: out.index(p._END.encode()) + len(p._END) + 1]
        return code, out


def test_an_answer_cut_short_is_asked_again(monkeypatch):
    monkeypatch.setattr(p.time, "sleep", lambda s: None)
    c = ShortFirst(["", ""], short=2)
    p.Proxy(c).set_state("waste", ["waste1", "waste2"], "ready")
    assert len(c.calls) == 3
    with pytest.raises(p.ProxyError, match="answered 1 of 2"):
        p.Proxy(ShortFirst(["", ""], short=3)).set_state("waste", ["a", "b"], "ready")


class NoExec(FakeContainer):
    def exec_run(self, cmd, **kwargs):
        raise AssertionError("exec used although the socket answers")


def serve_admin_socket(path: str, answers: dict[str, str]) -> list[str]:
    """HAProxy's admin socket in non-interactive mode: one command per connection,
    its answer, then the connection closed. Returns the commands it received."""
    import socket
    import threading

    received: list[str] = []
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen()

    def loop():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                command = conn.recv(4096).decode().strip()
                received.append(command)
                conn.sendall(answers.get(command.split(" ")[0], "").encode())

    threading.Thread(target=loop, daemon=True).start()
    return received


def test_a_socket_reachable_from_here_is_used_without_exec():
    import tempfile

    path = tempfile.mkdtemp(dir="/tmp") + "/admin.sock"  # AF_UNIX: a short path
    received = serve_admin_socket(path, {"show": STATE, "set": ""})
    proxy = p.Proxy(NoExec([]), socket_path=path)
    servers = proxy.servers("waste")
    assert [s.name for s in servers][:2] == ["waste1", "waste2"]
    proxy.set_state("waste", ["waste1"], "drain")
    assert received == [
        "show servers state waste",
        "show stat waste 4 -1",
        "set server waste/waste1 state drain",
    ]


def test_a_socket_that_fails_falls_back_to_exec_for_good():
    c = FakeContainer([""])
    proxy = p.Proxy(c, socket_path="/nonexistent/admin.sock")
    proxy.set_state("waste", ["waste1"], "ready")
    assert proxy.socket_path == "" and c.calls == [
        ["set server waste/waste1 state ready"]
    ]


def test_the_socket_from_here_only_when_it_can_be_opened():
    class Attrs:
        def __init__(self, attrs):
            self.attrs = attrs

    assert p.socket_from_here(Attrs({})) == ""
    assert p.socket_from_here(Attrs({"State": {"Pid": 0}})) == ""  # not running
    # A process without the socket (this one): nothing to open.
    assert p.socket_from_here(Attrs({"State": {"Pid": 1}})) == ""
