"""Retrieve: instances, metadata, frames, bulk data, rendered images and thumbnails."""

from pacs.retrieve.render import RENDERED_TYPES, TEXT_TYPES, is_structured_report
from pacs.retrieve.service import RenderParams, RetrieveService

__all__ = ["RENDERED_TYPES", "TEXT_TYPES", "RenderParams", "RetrieveService", "is_structured_report"]
