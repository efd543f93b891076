"""The `./inv` tasks, a module per group of commands; tasks.py lists them."""
