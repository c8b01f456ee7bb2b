"""Scripts that generate the figures of the book."""
