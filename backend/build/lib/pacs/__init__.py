"""PACS Portal: a DICOM archive (DICOMweb + DIMSE) with a clinician portal.

All demo data is synthetic. This software is not a medical device and is not for clinical use.
"""

__version__ = "0.1.0"
