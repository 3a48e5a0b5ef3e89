"""The command line: the only home of argparse and of logging set-up."""

from netclock.cli.main import main

__all__ = ["main"]
