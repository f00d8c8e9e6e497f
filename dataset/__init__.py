"""The dataset-version stage, end to end: pulled records become rows of a dataset on disk, which is validated,
split (frozen), versioned with DVC and git, replayed (the pipeline beside each version) and released.

Layout of ``data/``::

    images/<id>.<ext>      masks/<id>.png (class maps)      instances/<id>.png (where grains are instances)
    manifest.csv           schema.yaml

May import ``ml/`` (instances, image I/O, mask checks); ``ml/`` never imports it.
"""
