"""Reading and writing files: the only package that opens them (rasters, labels, vectors, points, styles, JSON/CSV,
atomic verified outputs); ``tests/test_imports.py`` checks that the rest of the library reads and writes through it."""
