"""The `distortions` tfds dataset (see README.md)."""
