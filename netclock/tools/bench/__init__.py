"""``netclock bench``: netclock beside raw baselines, in real processes (runner + worker)."""
