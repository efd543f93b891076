"""The pull agent: reconciles an environment with git, serves status, metrics and a
dashboard."""
