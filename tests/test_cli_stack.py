"""``fastseg stack echo``: kernel clients in a private namespace get their bytes back over
fastseg's TCP; usage errors are one line and exit 2; SIGTERM ends it cleanly."""

from __future__ import annotations

import pathlib
import select
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from kernel_peer import unavailable_reason
from tunlink import namespace

#: Where the commands run: not the checkout, whose uncompiled fastseg would shadow the installed one.
AWAY = str(pathlib.Path(sys.executable).parent)
needs_root = pytest.mark.skipif(unavailable_reason() is not None,
                                reason=str(unavailable_reason()))

CLIENT = textwrap.dedent("""
    import socket, sys
    host, data = sys.argv[1], bytes(range(256)) * 400
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.create_connection((host, 7), timeout=20) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        back = b""
        while chunk := s.recv(65536):
            back += chunk
    print(back == data)
""")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fastseg", "stack", *args], cwd=AWAY,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args, words", [
    (["echo", "--tun", "t", "--local", "10.0.0.5", "--kernel", "10.1.0.1/24"], "must be inside"),
    (["echo", "--tun", "t", "--local", "10.1.0.1", "--kernel", "10.1.0.1/24"], "not the kernel"),
    (["echo", "--tun", "t", "--local", "fd00::2", "--kernel", "10.1.0.1/24"], "no --kernel"),
    (["echo", "--tun", "t", "--local", "10.1.0.2", "--kernel", "10.1.0.1"], "IP/PREFIX"),
    (["echo", "--tun", "t", "--local", "10.1.0.2", "--kernel", "10.1.0.1/24", "--kernel",
      "fd00::1/64"], "has no --local"),
    (["echo", "--tun", "t", "--local", "10.1.0.2", "--kernel", "10.1.0.1/24", "--port", "0"], "port"),
    (["echo", "--tun", "t", "--local", "10.1.0.2", "--kernel", "10.1.0.1/24", "--impair",
      "loss=2"], "--impair"),
    (["echo", "--tun", "t", "--local", "nonsense", "--kernel", "10.1.0.1/24"], "--local"),
    (["serve"], "invalid choice"),
])
def test_usage_errors_are_one_line_and_exit_2(args: list[str], words: str) -> None:
    done = run(*args)
    assert done.returncode == 2 and words in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr and not done.stdout


def test_a_bad_device_name_exits_1_without_traceback() -> None:
    done = run("echo", "--tun", "x" * 20, "--local", "10.1.0.2", "--kernel", "10.1.0.1/24")
    assert done.returncode == 1 and "interface name" in done.stderr
    assert "Traceback" not in done.stderr


@needs_root
def test_kernel_clients_get_their_bytes_back_and_sigterm_ends_it_cleanly() -> None:
    with namespace() as ns:
        server = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-m", "fastseg", "stack", "echo",
             "--tun", "fs0", "--local", "10.79.0.2", "--kernel", "10.79.0.1/24",
             "--local", "fd00:79::2", "--kernel", "fd00:79::1/64",
             "--impair", "loss=0.02,duplicate=0.01,reorder=0.05,delay=5:2,seed=1"],
            cwd=AWAY, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            ready, _, _ = select.select([server.stdout], [], [], 20)
            assert ready and server.stdout is not None
            assert "ready" in server.stdout.readline()
            for address in ("10.79.0.2", "fd00:79::2"):
                client = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", CLIENT,
                                         address], capture_output=True, text=True, timeout=40)
                assert client.stdout.strip() == "True", client.stderr
            time.sleep(0.2)
            server.send_signal(signal.SIGTERM)
            out, err = server.communicate(timeout=30)
        finally:
            if server.poll() is None:
                server.kill()
                server.communicate(timeout=10)
        assert server.returncode == 0 and err == "", err
        assert "2 connections, 204800 bytes echoed" in out and "0 aborted at exit" in out
        gone = subprocess.run(["ip", "-n", ns, "link", "show", "fs0"], capture_output=True)
        assert gone.returncode != 0  # the device went with the process
