"""The bottom layer: types and file primitives every other package shares and agree on.

The label schema, file hashing, atomic writes, SEM image reading with its instrument metadata, and the typed
record of a pulled annotation. It imports nothing of the project.
"""
