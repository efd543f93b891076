"""Plain data every stage reads: the manifest, the desired and the live state, release
naming."""
