"""Tools that read what a run left behind or measure it: the checker, the viewer, bench."""
