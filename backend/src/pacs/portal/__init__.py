"""The portal JSON API at /api: the study list, the study page, analytics and live events."""
