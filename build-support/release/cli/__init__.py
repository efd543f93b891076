"""The task layer's side: flags in, one call into a stage, rendering out (tasks.py
calls these)."""
