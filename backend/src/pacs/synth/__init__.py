"""Synthetic, fictitious DICOM studies (Faker-driven): plan, headers, pixels, files, demo seed and bulk index.

The generator does not depend on the archive; sending into the archive goes through ``pacs.ingest``
(bulk mode writes the same index rows with COPY, see :mod:`pacs.synth.bulk`).
"""
