"""Publishing: the services a change affects, built, pushed to a registry and recorded
in the environment's manifest."""
