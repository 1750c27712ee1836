"""Pure pydicom helpers: no web, no database imports (design.md, boundary 4)."""
