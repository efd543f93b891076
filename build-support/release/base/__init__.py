"""What every stage uses: the error tree, the repository layout, atomic writes, the
terminal."""
