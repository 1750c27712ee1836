"""DIMSE front door (PS3.7 / PS3.8 network, PS3.4 services): C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET on pynetdicom.

The pynetdicom event handlers in :mod:`pacs.dimse.server` are the only seam: they parse the protocol, call the
shared services (``ingest`` for C-STORE, ``query`` for C-FIND, ``retrieve`` for C-MOVE / C-GET) and answer a
DICOM status. They never raise.

How handler threads reach the database
--------------------------------------
pynetdicom runs every association in its own thread (``ThreadedAssociationServer``), and the handlers run in
that thread. They share the process's one synchronous SQLAlchemy engine (``Services.engine``, psycopg 3,
``prepare_threshold=None`` so it works behind a transaction-mode pooler) with the HTTP side. The engine's
connection pool is thread-safe; a handler never holds a connection across DIMSE messages: each service call
checks one out for its own short transaction (``with engine.connect()`` for reads, one autocommit call of
``pacs_index_instances`` for the ingest's index write, committed before the C-STORE response is sent) and returns it. So the number
of database connections is bounded by the pool (``PACS_DB_POOL_SIZE`` + ``PACS_DB_MAX_OVERFLOW``), not by
``PACS_DIMSE_MAX_ASSOCIATIONS``: a burst of associations waits for a pooled connection instead of opening
new ones. A C-FIND streams its matches page by page (one short read transaction per page), so a slow peer
does not keep a transaction open. No session state is used, so pgbouncer / PgCat in transaction mode are fine.
"""

from pacs.dimse.server import DimseServer

__all__ = ["DimseServer"]
