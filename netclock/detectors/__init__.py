"""Failure detectors: P, ◇P and Ω as sans-IO cores (:mod:`~netclock.detectors.core`), their
options (:mod:`~netclock.detectors.options`) and the one asyncio adapter that drives them
beside a Node's link (:mod:`~netclock.detectors.adapter`). See docs/detectors.md."""
