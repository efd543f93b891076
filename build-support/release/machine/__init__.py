"""This machine and its local stand-ins as data (pure): what a task needs installed, the
cache server's configuration, the simulated fleet's layout."""
