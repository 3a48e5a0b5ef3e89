"""What a run leaves behind: the JSON-lines event log and GoVector/ShiViz logs."""
