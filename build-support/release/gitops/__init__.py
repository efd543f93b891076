"""The manifests in git: recording a release, history, promote, rollback, secrets."""
