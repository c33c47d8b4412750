"""Two private network namespaces joined by a veth pair: the recorders' test bed.

Both recorders (``make_captures.py``, ``make_sample.py``) run real kernel
traffic between a client and a server namespace and capture it on the
server's end.  ``veth_pair`` builds that bed: loopback up, addresses on both
ends, checksum and segmentation offloads off (so every captured frame is one
real on-the-wire segment with a software checksum), sysctls applied, link up;
``delete`` removes namespaces again.  Every command is bounded in time.
Needs root, iproute2 and ethtool.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from typing import Optional, Sequence

__all__ = ["End", "delete", "sh", "veth_pair"]

#: Seconds any one command may take.
COMMAND_TIMEOUT = 20.0
#: Seconds to wait for both ends of a new veth pair to come up.
LINK_TIMEOUT = 5.0
#: Offloads switched off on both ends (ethtool -K names).
OFFLOADS = ("tx", "rx", "tso", "gso", "gro")


@dataclass(frozen=True)
class End:
    """One side of the pair: its namespace, veth device and addresses (with prefix)."""

    namespace: str
    device: str
    addresses: Sequence[str]  # e.g. ("10.213.0.1/24", "fd00:fa57:5e9::1/64")


def sh(*args: str, ns: Optional[str] = None, check: bool = True, stdin: Optional[str] = None
       ) -> subprocess.CompletedProcess[str]:
    """Run a command (inside namespace ``ns`` if given), bounded in time; RuntimeError on failure
    when ``check``."""
    command = ["ip", "netns", "exec", ns, *args] if ns is not None else list(args)
    result = subprocess.run(command, input=stdin, capture_output=True, text=True,
                            timeout=COMMAND_TIMEOUT)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def delete(*namespaces: str) -> None:
    """Delete these namespaces where they exist (their devices go with them)."""
    for namespace in namespaces:
        if os.path.exists(f"/run/netns/{namespace}"):
            sh("ip", "netns", "del", namespace, check=False)


def veth_pair(client: End, server: End, sysctls: Sequence[str] = ()) -> None:
    """Create both namespaces afresh and join them (see the module docs).

    The pair is created inside the client namespace with its peer directly in
    the server namespace: the caller's namespace never sees either end.
    """
    delete(client.namespace, server.namespace)
    sh("ip", "netns", "add", client.namespace)
    sh("ip", "netns", "add", server.namespace)
    sh("ip", "-n", client.namespace, "link", "add", client.device, "type", "veth",
       "peer", "name", server.device, "netns", server.namespace)
    for end in (client, server):
        for setting in sysctls:
            sh("sysctl", "-q", "-w", setting, ns=end.namespace)
        sh("ip", "-n", end.namespace, "link", "set", "lo", "up")
        for address in end.addresses:
            family = ["-6"] if ":" in address else []
            extra = ["nodad"] if family else []
            sh("ip", "-n", end.namespace, *family, "addr", "add", address, "dev", end.device, *extra)
        offloads = [word for name in OFFLOADS for word in (name, "off")]
        sh("ethtool", "-K", end.device, *offloads, ns=end.namespace, check=False)
        features = sh("ethtool", "-k", end.device, ns=end.namespace).stdout
        for needed in ("tx-checksumming: off", "rx-checksumming: off",
                       "tcp-segmentation-offload: off", "generic-segmentation-offload: off"):
            if needed not in features:
                raise RuntimeError(f"{end.device}: could not get '{needed}'")
        sh("ip", "-n", end.namespace, "link", "set", end.device, "up")
    deadline = time.monotonic() + LINK_TIMEOUT
    while time.monotonic() < deadline:
        states = [sh("ip", "-n", end.namespace, "-br", "link", "show", end.device).stdout
                  for end in (client, server)]
        if all(" UP " in state for state in states):
            return
        time.sleep(0.05)
    raise RuntimeError("the veth pair did not come up")
