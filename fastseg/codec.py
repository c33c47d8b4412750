"""Segment decoding and encoding: ``unpack``, ``pack``, ``pack_into`` from the active twin."""

from fastseg._impl import codec as _twin

__all__ = ["pack", "pack_into", "unpack"]

unpack = _twin.unpack
pack = _twin.pack
pack_into = _twin.pack_into
