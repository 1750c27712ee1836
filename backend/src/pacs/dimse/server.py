"""The DIMSE service provider: one pynetdicom AE whose event handlers are the only seam to the services.

Services (PS3.4): Verification (A), Storage (B), Query/Retrieve FIND, MOVE and GET (C) for the Patient Root
and Study Root information models. Every handler returns (or yields) a status and never raises: expected
problems are :class:`~pacs.exceptions.PacsError` rendered as their ``dicom_status``; anything else is logged
and answered with a "Cannot understand / Unable to process" status.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from functools import partial
from io import BytesIO
from typing import Any, cast

import pydicom
from pydicom.dataset import Dataset
from pynetdicom import AE, AllStoragePresentationContexts, _config, build_context, evt
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)
from pynetdicom.transport import ThreadedAssociationServer

from pacs.config import Settings
from pacs.dicom.transfer_syntax import EXPLICIT_LE, IMPLICIT_LE, STORABLE, UNCOMPRESSED
from pacs.dimse.identifier import (
    FIND_MODELS,
    RETRIEVE_MODELS,
    Query,
    parse_identifier,
    response_identifier,
    retrieve_keys,
)
from pacs.exceptions import NotFoundError, PacsError
from pacs.query.engine import Level, build_spec
from pacs.query.results import DEFAULTS, row_to_json, tag_hex
from pacs.retrieve import RetrieveService
from pacs.retrieve.destinations import DestinationRegistry
from pacs.retrieve.service import InstanceRef
from pacs.services import Services

log = logging.getLogger(__name__)

#: Transfer syntaxes offered for the identifiers of C-FIND / C-MOVE / C-GET and for Verification.
_QR_SYNTAXES = [IMPLICIT_LE, EXPLICIT_LE]
_QR_MODELS = (
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelMove,
    PatientRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelGet,
)
#: C-FIND responses are read from the index in pages of this many matches.
FIND_PAGE = 500
#: Maximum PDU length the SCP announces (0: unlimited).
MAX_PDU_RECEIVE = 0
#: PS3.8 9.3.2.2: at most 128 presentation contexts in one association request.
MAX_CONTEXTS = 128

# Status codes (PS3.4 B.2.3, C.4.1.1.4, C.4.2.1.5, C.4.3.1.4)
SUCCESS = 0x0000
PENDING = 0xFF00
PENDING_WARNING = 0xFF01  # optional keys not supported
CANCEL = 0xFE00
CANNOT_UNDERSTAND = 0xC000
OUT_OF_RESOURCES = 0xA700
UNABLE_TO_PROCESS = 0xC001


class QuickAckSocket(socket.socket):
    """A TCP socket that re-arms ``TCP_QUICKACK`` after every read (Linux), so each segment is ACKed at once.

    Most SCUs (pynetdicom's default, many modalities) leave Nagle on and write a DIMSE message as a small
    command PDU followed by the data set PDU: Nagle holds the second write until the first is ACKed, and a
    receiver with delayed ACKs answers after ~40 ms. That is the fixed per-store delay PS3.8 peers are known
    for (Orthanc waits about 48 ms per store here). The kernel leaves quick-ACK mode on its own, so it is
    set again after each ``recv``. Measured on loopback with a pynetdicom SCU (Nagle on) storing 64x64 CT
    slices into this SCP with a no-op ingest: p50 about 55 ms per store without, 6-10 ms with.
    """

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        data = super().recv(bufsize, flags)
        self._quickack()
        return data

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        n = super().recv_into(buffer, nbytes, flags)
        self._quickack()
        return n

    def _quickack(self) -> None:
        try:
            self.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)
        except OSError:  # pragma: no cover - closed meanwhile
            pass


def _recv_exactly(holder: Any, nr_bytes: int) -> bytearray:
    """``AssociationSocket.recv`` in few system calls: read ``nr_bytes`` (fewer only at end of stream).

    pynetdicom reads a PDU 4 KiB at a time (128 ``recv`` calls and as many buffer extensions for a 513 kB CT
    slice); reading into one buffer of the PDU's size takes what the kernel has each time. Same contract:
    blocking, short only when the peer closed, socket errors propagate to the DUL as before.
    """
    sock = holder.socket
    buf = bytearray(nr_bytes)
    got = 0
    with memoryview(buf) as view:
        while got < nr_bytes:
            n = sock.recv_into(view[got:], nr_bytes - got)
            if not n:
                break
            got += n
    if got < nr_bytes:
        del buf[got:]
    return buf


_TCP_QUICKACK: int = getattr(socket, "TCP_QUICKACK", 0)


def _tune_socket(event: evt.Event) -> None:
    """Socket options for every association socket (ours, and the ones we open to C-MOVE destinations).

    - ``TCP_NODELAY``: we write a DIMSE message as several small sends (command PDU, then data PDUs); with
      Nagle on, the second small write would wait for the peer's delayed ACK, once per message.
    - Accepted sockets ACK at once (:class:`QuickAckSocket`), so a peer that keeps Nagle on is not held up.
    - A read timeout of ``network_timeout``: pynetdicom reads a PDU with blocking ``recv`` calls, so a peer
      that stalls in the middle of a PDU would otherwise hold its association thread forever (the idle
      timer is only checked between PDUs). With the timeout the read fails and the connection is closed.
    """
    try:
        assoc = event.assoc
        holder = assoc.dul.socket
        sock = holder.socket if holder is not None else None
        if sock is None:
            return
        if assoc.is_acceptor and _TCP_QUICKACK and type(sock) is socket.socket:
            sock = QuickAckSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
            sock.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)
            holder.socket = sock  # type: ignore[union-attr]
        if holder is not None:
            holder.recv = partial(_recv_exactly, holder)  # type: ignore[method-assign]
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if assoc.network_timeout is not None:
            sock.settimeout(assoc.network_timeout)
    except Exception:  # pragma: no cover - a closed socket: nothing to tune
        log.warning("could not tune the association socket", exc_info=True)


def _peer(event: evt.Event) -> str:
    req = event.assoc.requestor
    return f"{req.ae_title}@{req.address}:{req.port}"


class DimseServer:
    """The archive's DIMSE front door (``pacs serve`` runs it beside the HTTP server)."""

    def __init__(
        self, settings: Settings, services: Services, *, host: str = "0.0.0.0", port: int | None = None
    ):
        self.settings = settings
        self.services = services
        self.host = host
        self.port = settings.dimse_port if port is None else port
        self.destinations = DestinationRegistry(services.engine, settings)
        self.ae = self._build_ae()
        self._server: ThreadedAssociationServer | None = None

    # -- setup ---------------------------------------------------------------------------------------------
    def _build_ae(self) -> AE:
        s = self.settings
        # Identifiers are logged by our handlers when they are refused; pynetdicom's per-response dumps of
        # every C-FIND identifier cost more than the query itself.
        _config.LOG_REQUEST_IDENTIFIERS = False
        _config.LOG_RESPONSE_IDENTIFIERS = False
        if s.log_level.upper() != "DEBUG":
            # pynetdicom logs several INFO lines per message (a cost per C-STORE); ours say what matters.
            logging.getLogger("pynetdicom").setLevel(logging.WARNING)
        ae = AE(ae_title=s.ae_title)
        ae.maximum_associations = s.dimse_max_associations
        # Maximum PDU we receive: 0 = no limit (PS3.8 D.1), so a C-STORE arrives in one or a few PDUs instead
        # of 32 PDUs of 16 KiB for a 512x512 CT; measured ~20% less SCP CPU per store than the default.
        ae.maximum_pdu_size = MAX_PDU_RECEIVE
        ae.acse_timeout = s.dimse_acse_timeout
        ae.dimse_timeout = s.dimse_dimse_timeout
        ae.network_timeout = s.dimse_network_timeout
        ae.connection_timeout = min(s.dimse_acse_timeout, 15.0)
        ae.require_calling_aet = sorted(s.allowed_calling_aets)
        ae.add_supported_context(
            Verification, _QR_SYNTAXES + [str(u) for u in UNCOMPRESSED - {IMPLICIT_LE, EXPLICIT_LE}]
        )
        for model in _QR_MODELS:
            ae.add_supported_context(model, _QR_SYNTAXES)
        # Storage: every storage SOP class pynetdicom knows, in the syntaxes kept as received. SCU and SCP
        # roles are both accepted so a C-GET requestor may act as the Storage SCP (PS3.7 D.3.3.4).
        for cx in AllStoragePresentationContexts:
            ae.add_supported_context(str(cx.abstract_syntax), STORABLE, scu_role=True, scp_role=True)
        return ae

    def _handlers(self) -> list[Any]:
        return [
            (evt.EVT_CONN_OPEN, _tune_socket),
            (evt.EVT_ACCEPTED, self._on_accepted),
            (evt.EVT_REJECTED, self._on_rejected),
            (evt.EVT_ABORTED, self._on_aborted),
            (evt.EVT_C_ECHO, self.handle_echo),
            (evt.EVT_C_STORE, self.handle_store),
            (evt.EVT_C_FIND, self.handle_find),
            (evt.EVT_C_MOVE, self.handle_move),
            (evt.EVT_C_GET, self.handle_get),
        ]

    def start(self) -> None:
        """Listen in a background thread (returns once the port is bound)."""
        server = self.ae.start_server((self.host, self.port), block=False, evt_handlers=self._handlers())
        assert server is not None
        # Association threads must not keep the process alive once stop() has aborted them.
        server.daemon_threads = True
        self._server = server
        self.port = int(server.server_address[1])
        log.info("DIMSE SCP %s listening on %s:%d", self.settings.ae_title, self.host, self.port)

    def serve_forever(self, stop: threading.Event) -> None:
        self.start()
        stop.wait()
        self.stop()

    def stop(self) -> None:
        """Abort the remaining associations and close the listening socket."""
        self._server = None
        self.ae.shutdown()

    @property
    def active_associations(self) -> list[Association]:
        return self._server.active_associations if self._server else []

    # -- association events --------------------------------------------------------------------------------
    @staticmethod
    def _on_accepted(event: evt.Event) -> None:
        rejected = event.assoc.rejected_contexts
        if rejected:
            log.warning(
                "association with %s: %d presentation context(s) rejected: %s",
                _peer(event),
                len(rejected),
                "; ".join(f"{cx.abstract_syntax} [{', '.join(cx.transfer_syntax)}]" for cx in rejected[:5]),
            )

    @staticmethod
    def _on_rejected(event: evt.Event) -> None:
        log.warning("association from %s rejected", _peer(event))

    @staticmethod
    def _on_aborted(event: evt.Event) -> None:
        log.warning("association with %s aborted", _peer(event))

    # -- Verification (PS3.4 A) ----------------------------------------------------------------------------
    @staticmethod
    def handle_echo(event: evt.Event) -> int:
        return SUCCESS

    # -- Storage (PS3.4 B) ---------------------------------------------------------------------------------
    def handle_store(self, event: evt.Event) -> int:
        """C-STORE: the received Part-10 bytes, as they came, through the one ingest path."""
        try:
            data = event.encoded_dataset(include_meta=True)
        except Exception as exc:
            log.warning("C-STORE from %s refused (0xC000): cannot read the data set: %s", _peer(event), exc)
            return CANNOT_UNDERSTAND
        try:
            req = cast(C_STORE, event.request)
            outcome = self.services.ingest.store_one(
                data, expected_instance=(str(req.AffectedSOPClassUID), str(req.AffectedSOPInstanceUID))
            )
        except Exception:  # ingest reports bad instances as outcomes; this is the archive failing
            log.exception("C-STORE from %s: ingest failed", _peer(event))
            return OUT_OF_RESOURCES
        if outcome.failure_status is not None:
            log.warning(
                "C-STORE from %s refused (0x%04X): %s %s",
                _peer(event),
                outcome.failure_status,
                getattr(event.request, "AffectedSOPInstanceUID", "-"),
                outcome.detail,
            )
            return outcome.failure_status
        return SUCCESS

    # -- Query (PS3.4 C.4.1) -------------------------------------------------------------------------------
    def handle_find(self, event: evt.Event) -> Iterator[tuple[int, Dataset | None]]:
        model = str(event.request.AffectedSOPClassUID)
        try:
            q = parse_identifier(event.identifier, FIND_MODELS[model])
            spec, ignored = build_spec(q.level, q.keys)
        except PacsError as exc:
            log.warning("C-FIND from %s refused (0x%04X): %s", _peer(event), exc.dicom_status, exc.detail)
            yield exc.dicom_status, None
            return
        except Exception as exc:
            log.warning("C-FIND from %s: cannot read the identifier: %s", _peer(event), exc)
            yield UNABLE_TO_PROCESS, None
            return
        unsupported = q.unsupported + [k for k in ignored if q.keys.get(k)]
        if unsupported:
            log.info(
                "C-FIND from %s: keys not supported for matching: %s", _peer(event), ", ".join(unsupported)
            )
        status = PENDING_WARNING if unsupported else PENDING
        include = {f"{int(t):08X}" for t in q.requested}
        known = {tag_hex(k) for lvl in DEFAULTS.values() for k in lvl}
        with_metadata = q.level == Level.IMAGE and bool(include - known)
        spec.limit = FIND_PAGE
        try:
            while True:
                if event.is_cancelled:
                    yield CANCEL, None
                    return
                rows = self.services.query.run(spec, with_metadata=with_metadata)
                for row in rows:
                    if event.is_cancelled:
                        yield CANCEL, None
                        return
                    result = row_to_json(q.level, row, include=include, with_study=q.level != Level.STUDY)
                    yield status, response_identifier(q, result, retrieve_aet=self.settings.ae_title)
                if len(rows) < FIND_PAGE:
                    break
                spec.after_id = rows[-1]["id"]  # keyset: every page costs the same, however deep
        except Exception:
            log.exception("C-FIND from %s: query failed", _peer(event))
            yield UNABLE_TO_PROCESS, None
            return
        yield SUCCESS, None

    # -- Retrieve (PS3.4 C.4.2 C-MOVE, C.4.3 C-GET) --------------------------------------------------------
    def _locate(self, model: str, identifier: Dataset) -> list[InstanceRef]:
        """The instances a retrieve identifier selects, through the query engine then the retrieve service."""
        _, keys = retrieve_keys(identifier, RETRIEVE_MODELS[model])
        spec, _ = build_spec(Level.IMAGE, keys)
        rows = self.services.query.run(spec)
        wanted: dict[str, set[str]] = defaultdict(set)
        for row in rows:
            wanted[row["study_instance_uid"]].add(row["sop_instance_uid"])
        refs: list[InstanceRef] = []
        for study, sops in wanted.items():
            try:
                located = self.services.retrieve.locate(study)
            except NotFoundError:  # deleted since the query: nothing to send
                continue
            refs.extend(r for r in located if r.sop_instance_uid in sops)
        return refs

    def _dataset_for(self, ref: InstanceRef, assoc: Association | None) -> Dataset:
        """The instance as a dataset the peer accepted a presentation context for (PS3.4 C.4.2.3.1).

        As stored when the peer accepted the stored syntax; otherwise decoded to Explicit VR Little Endian
        (pynetdicom re-encodes that to Implicit VR when only that was accepted). When no context fits, a
        dataset without a transfer syntax is returned: pynetdicom counts it as a failed sub-operation and
        lists its SOP Instance UID in Failed SOP Instance UID List.
        """
        retrieve: RetrieveService = self.services.retrieve
        accepted: set[str] = set()
        if assoc is not None:
            for cx in assoc.accepted_contexts:
                if cx.abstract_syntax == ref.sop_class_uid and cx.as_scu:
                    accepted.update(str(ts) for ts in cx.transfer_syntax)
        stored = ref.transfer_syntax_uid
        try:
            if stored in accepted:
                wanted: str | None = "*"
            elif accepted & {EXPLICIT_LE, IMPLICIT_LE}:
                wanted = EXPLICIT_LE
            else:
                raise PacsError(
                    f"the peer accepted no presentation context for {ref.sop_class_uid} in {stored} or "
                    "uncompressed syntaxes",
                    dicom_status=0xA702,
                )
            data, _ = retrieve.encode(ref, retrieve.read(ref), wanted)
            return pydicom.dcmread(BytesIO(data))
        except PacsError as exc:
            log.warning("sub-operation for %s fails: %s", ref.sop_instance_uid, exc.detail)
        except Exception as exc:
            log.warning("sub-operation for %s fails: %s: %s", ref.sop_instance_uid, type(exc).__name__, exc)
        failed = Dataset()
        failed.SOPClassUID = ref.sop_class_uid
        failed.SOPInstanceUID = ref.sop_instance_uid
        return failed

    @staticmethod
    def _contexts_for(refs: list[InstanceRef]) -> list[Any]:
        """Presentation contexts for a C-MOVE sub-association: per SOP class, the stored compressed syntaxes
        each in its own context, plus one uncompressed context (so a peer without the codec still gets it)."""
        pairs: dict[str, set[str]] = defaultdict(set)
        for r in refs:
            pairs[r.sop_class_uid].add(r.transfer_syntax_uid)
        contexts = []
        for sop_class, syntaxes in pairs.items():
            contexts.append(build_context(sop_class, [EXPLICIT_LE, IMPLICIT_LE]))
            for ts in sorted(syntaxes - {EXPLICIT_LE, IMPLICIT_LE}):
                contexts.append(build_context(sop_class, ts))
        if len(contexts) > MAX_CONTEXTS:
            log.warning(
                "C-MOVE needs %d presentation contexts; proposing the first %d", len(contexts), MAX_CONTEXTS
            )
        return contexts[:MAX_CONTEXTS] or [build_context(Verification)]

    def _subops(
        self, event: evt.Event, refs: list[InstanceRef], assoc: Callable[[], Association | None]
    ) -> Iterator[tuple[int, Dataset | None]]:
        for ref in refs:
            if event.is_cancelled:
                log.info("retrieve cancelled by %s", _peer(event))
                yield CANCEL, None
                return
            yield PENDING, self._dataset_for(ref, assoc())

    def handle_move(self, event: evt.Event) -> Iterator[Any]:
        """C-MOVE: yields the destination, the number of sub-operations, then one dataset per sub-operation;
        pynetdicom runs the C-STORE sub-operations on its association to the destination and counts them."""
        model = str(event.request.AffectedSOPClassUID)
        error: PacsError | None = None
        refs: list[InstanceRef] = []
        try:
            refs = self._locate(model, event.identifier)
        except PacsError as exc:
            error = exc
        except Exception as exc:
            log.exception("C-MOVE from %s: lookup failed", _peer(event))
            error = PacsError(f"lookup failed: {type(exc).__name__}", dicom_status=UNABLE_TO_PROCESS)
        aet = (event.move_destination or "").strip()
        try:
            dest = self.destinations.resolve(aet)
        except Exception:
            log.exception("C-MOVE from %s: destination lookup failed", _peer(event))
            dest = None
        if dest is None:
            log.warning("C-MOVE from %s refused (0xA801): move destination %r is unknown", _peer(event), aet)
            yield None, None
            return
        holder: dict[str, Association] = {}

        def capture(ev: evt.Event) -> None:
            holder["assoc"] = ev.assoc
            _tune_socket(ev)

        kwargs = {
            "ae_title": dest.ae_title,
            "contexts": self._contexts_for(refs),
            "evt_handlers": [(evt.EVT_CONN_OPEN, capture)],
        }
        yield dest.host, dest.port, kwargs
        if error is not None:
            # The status must follow the sub-operation count (pynetdicom's C-MOVE protocol); one failed
            # sub-operation carries it.
            log.warning("C-MOVE from %s refused (0x%04X): %s", _peer(event), error.dicom_status, error.detail)
            yield 1
            yield error.dicom_status, None
            return
        log.info("C-MOVE from %s: %d instance(s) to %s", _peer(event), len(refs), dest.ae_title)
        yield len(refs)
        yield from self._subops(event, refs, lambda: holder.get("assoc"))

    def handle_get(self, event: evt.Event) -> Iterator[Any]:
        """C-GET: the number of sub-operations, then one dataset per C-STORE on the same association."""
        model = str(event.request.AffectedSOPClassUID)
        try:
            refs = self._locate(model, event.identifier)
        except PacsError as exc:
            log.warning("C-GET from %s refused (0x%04X): %s", _peer(event), exc.dicom_status, exc.detail)
            yield 1
            yield exc.dicom_status, None
            return
        except Exception:
            log.exception("C-GET from %s: lookup failed", _peer(event))
            yield 1
            yield UNABLE_TO_PROCESS, None
            return
        log.info("C-GET from %s: %d instance(s)", _peer(event), len(refs))
        yield len(refs)
        yield from self._subops(event, refs, lambda: event.assoc)


__all__ = ["DimseServer", "Query"]
