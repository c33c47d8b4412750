"""The example program completes a handshake, an exchange and a close with the kernel."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kernel_peer import requires_kernel_peer

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "kernel_demo.py"


@requires_kernel_peer
def test_kernel_demo_prints_the_state_path():
    result = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == ("our state path: CLOSED -> SYN-SENT -> ESTABLISHED -> FIN-WAIT-1 -> "
                         "FIN-WAIT-2 -> TIME-WAIT -> CLOSED")
    assert "kernel received 13 bytes; we received 13 bytes" in lines
    assert any(line.startswith("  <- SYN|ACK") for line in lines)
