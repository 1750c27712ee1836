"""Print the backend's OpenAPI document (no database needed): the source of src/api/schema.d.ts.

Run through `npm run gen:api` (uses the repository's .venv).
"""

import json
import sys

from pacs.app import create_app
from pacs.config import Settings

settings = Settings(_env_file=None, database_url="postgresql://openapi@127.0.0.1/unused")  # type: ignore[call-arg]
json.dump(create_app(settings).openapi(), sys.stdout, indent=1, sort_keys=True)
