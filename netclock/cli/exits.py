"""The exit codes of every ``netclock`` command (the README lists them)."""

EXIT_OK = 0
EXIT_VIOLATED = 1
"""The checker found a property the link promises violated."""
EXIT_USAGE = 2
"""A usage or configuration mistake, including a node that cannot start (see main.py)."""
EXIT_PROGRAM_FAILED = 3
"""A node's program raised, exited non-zero, or died of a signal the run did not send."""
EXIT_UNFINISHED = 4
"""The run's duration expired with programs still running."""
EXIT_INTERRUPTED = 130
"""Ctrl-C (SIGINT), or ``stop`` at the prompt."""
EXIT_TERMINATED = 143
"""SIGTERM."""
