# SPDX-License-Identifier: ISC
"""What the bench scripts share (they run as scripts: this folder is on
sys.path)."""

import socket


def free_port():
    """A loopback TCP port nothing listens on now (the kernel's pick)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
