"""A dataset version on disk: images, masks, a manifest with provenance, frozen splits; validation and releases.

Layout of ``data/``::

    images/<id>.<ext>      masks/<id>.png (class maps)      instances/<id>.png (where grains are instances)
    manifest.csv           schema.yaml

Pure file logic only: versioning with DVC and git lives in flows/.
"""
