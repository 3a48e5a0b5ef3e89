"""Clusters of OS processes: the cluster file, one node process, and the launcher."""
