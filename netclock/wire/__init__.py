"""The bytes on the wire: the envelope, stream framing, and GoVector's message codec.

Pure functions and values, no IO. ``docs/wire.md`` is the byte-level specification.
"""
