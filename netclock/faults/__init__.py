"""Seeded faults: the plan (what may go wrong and how often) and its per-link injector.

The same seed gives the same fate to the same datagram in every process.
"""
