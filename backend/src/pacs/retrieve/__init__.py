"""Retrieve: instances, metadata, frames, bulk data, rendered images and thumbnails."""

from pacs.retrieve.service import RenderParams, RetrieveService

__all__ = ["RenderParams", "RetrieveService"]
