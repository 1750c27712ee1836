"""Retrieve: instances, metadata, frames, bulk data, rendered images and thumbnails."""

from pacs.retrieve.render import RENDERED_TYPES
from pacs.retrieve.service import RenderParams, RetrieveService

__all__ = ["RENDERED_TYPES", "RenderParams", "RetrieveService"]
