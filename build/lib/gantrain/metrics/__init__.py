"""Quality metrics, one module each."""
