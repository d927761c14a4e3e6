"""The exercises' stubs: what ``spinrl exercise start ID`` writes (read as text, never run)."""
