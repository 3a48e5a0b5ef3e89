"""Failure detectors: P, ◇P and Ω as sans-IO cores (:mod:`~netclock.detectors.core`), their
options (:mod:`~netclock.detectors.options`) and the one asyncio adapter that drives them
beside a Node's link (:mod:`~netclock.detectors.adapter`). See docs/detectors.md.

An application meets the options (``Node(detector=DetectorOptions(...))``) and the events
``node.detector_events()`` yields.
"""

from netclock.detectors.core import DetectorEvent, Leader, Restore, Suspect, SynchronyViolated
from netclock.detectors.options import DETECTOR_KINDS, DetectorOptions

__all__ = [
    "DETECTOR_KINDS",
    "DetectorEvent",
    "DetectorOptions",
    "Leader",
    "Restore",
    "Suspect",
    "SynchronyViolated",
]
