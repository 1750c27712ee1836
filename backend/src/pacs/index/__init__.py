"""The index: every SQL statement of the service lives in this package (design.md, boundary 3)."""
