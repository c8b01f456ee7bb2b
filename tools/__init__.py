"""Small tools that keep the book's notebooks, `purenn` and the exercises in sync."""
