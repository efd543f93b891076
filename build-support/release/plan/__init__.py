"""Pure: what should run against what runs, and the desired state a deploy resolves."""
