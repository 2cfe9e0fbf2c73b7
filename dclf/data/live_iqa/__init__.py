"""The `live_iqa` tfds dataset (see README.md)."""
