"""Errors are raised once, as ``PacsError`` subclasses, and rendered per protocol.

Each carries an HTTP status (portal API / DICOMweb) and a DICOM status (DIMSE, STOW-RS FailureReason).
"""

from __future__ import annotations


class PacsError(Exception):
    http_status: int = 500
    dicom_status: int = 0x0110  # Processing failure
    error: str = "internal_error"

    def __init__(self, detail: str, *, dicom_status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if dicom_status is not None:
            self.dicom_status = dicom_status


class BadRequestError(PacsError):
    http_status = 400
    dicom_status = 0xA900
    error = "bad_request"


class InvalidDicomError(PacsError):
    """The bytes are not a DICOM Part-10 object we can understand (PS3.4 B.2.3 "Cannot understand")."""

    http_status = 400
    dicom_status = 0xC000
    error = "invalid_dicom"


class MissingAttributeError(InvalidDicomError):
    dicom_status = 0xA900  # Data Set does not match SOP Class
    error = "missing_attribute"


class StudyMismatchError(PacsError):
    http_status = 409
    dicom_status = 0xA900
    error = "study_mismatch"


class InstanceMismatchError(PacsError):
    """A C-STORE whose data set is not the instance its command names (Affected SOP Class / Instance UID)."""

    http_status = 409
    dicom_status = 0xA900  # Data Set does not match SOP Class
    error = "instance_mismatch"


class NotFoundError(PacsError):
    http_status = 404
    dicom_status = 0xA701
    error = "not_found"


class NotAcceptableError(PacsError):
    """The requested representation (media type / transfer syntax) cannot be produced (PS3.18 8.7.6)."""

    http_status = 406
    dicom_status = 0xC122
    error = "not_acceptable"


class UnsupportedMediaTypeError(PacsError):
    http_status = 415
    error = "unsupported_media_type"


class PayloadTooLargeError(PacsError):
    http_status = 413
    dicom_status = 0xA700
    error = "payload_too_large"


class UnavailableError(PacsError):
    http_status = 503
    dicom_status = 0xA700
    error = "unavailable"


class ConfigurationError(PacsError):
    error = "configuration_error"
