"""Everything that reads a Timeline, through its one replay (replay.py): report, explain, compare,
calibrate."""
