"""The Internet checksum (RFC 1071, RFC 1624) for TCP over IPv4 and IPv6, from the active twin."""

from fastseg._impl import checksum as _twin

__all__ = ["internet_checksum", "tcp_checksum", "update_checksum", "verify_checksum"]

internet_checksum = _twin.internet_checksum
tcp_checksum = _twin.tcp_checksum
verify_checksum = _twin.verify_checksum
update_checksum = _twin.update_checksum
