"""DIMSE services (PS3.4 A, B, C; PS3.7; PS3.8) with real peers on loopback: dcmtk's echoscu, storescu, findscu,
movescu (with dcmtk's storescp as the destination) and getscu, and pynetdicom SCUs / SCPs.

The SCP runs in-process on a free port over the session's test database, beside the HTTP server (same
settings, same database, same object store), so DIMSE and DICOMweb answers can be compared directly.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import (
    JPEG2000,
    CTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
    generate_uid,
)
from pynetdicom import AE, StoragePresentationContexts, build_context, build_role, evt
from pynetdicom.association import Association
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from pacs.dimse import DimseServer
from pacs.dimse.server import QuickAckSocket
from tests.conftest import LiveServer, free_port, make_settings, start_server
from tests.dicomfactory import ct_dataset, multipart, to_bytes

PACS_AET = "PACS"
STORESCP_AET = "STORESCP"

STORE_FILES = [
    "CT_small.dcm",  # explicit VR little endian
    "MR_small_implicit.dcm",  # implicit VR little endian
    "MR_small_RLE.dcm",  # RLE lossless
    "JPEG2000.dcm",  # JPEG 2000
    "SC_rgb_jpeg_dcmtk.dcm",  # JPEG baseline
    "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS lossless
]


# ---------------------------------------------------------------------------------------------------------
# fixtures and helpers
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Archive:
    live: LiveServer
    dimse: DimseServer
    storescp_port: int

    @property
    def port(self) -> int:
        return self.dimse.port

    def associate(self, contexts: list, *, ae_title: str = "PYSCU", **kw) -> Association:
        ae = AE(ae_title=ae_title)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
        assoc = ae.associate("127.0.0.1", self.port, contexts=contexts, ae_title=PACS_AET, **kw)
        assert assoc.is_established, "association with the archive was not established"
        return assoc


@pytest.fixture(scope="module")
def archive(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    storage = tmp_path_factory.mktemp("dimse-store")
    storescp_port = free_port()
    settings = make_settings(
        database_url,
        storage,
        ae_title=PACS_AET,
        dimse_destinations=f"{STORESCP_AET}@127.0.0.1:{storescp_port}",
        dimse_network_timeout=3.0,
        dimse_acse_timeout=5.0,
        dimse_dimse_timeout=30.0,
        max_request_bytes=64 * 1024 * 1024,
    )
    live, server, thread = start_server(settings)
    dimse = DimseServer(settings, live.services, host="127.0.0.1", port=0)
    dimse.start()
    yield Archive(live, dimse, storescp_port)
    dimse.stop()
    server.should_exit = True
    thread.join(timeout=10)
    live.services.close()


def fresh_copies(directory: Path) -> list[Path]:
    """pydicom's test files with new UIDs (three of them share one SOP Instance UID), pixel data untouched."""
    out = []
    for name in STORE_FILES:
        ds = pydicom.dcmread(get_testdata_file(name))
        ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        path = directory / name
        ds.save_as(path, enforce_file_format=True)
        out.append(path)
    return out


def run(cmd: list[str], cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


def dataset_bytes(part10: bytes) -> bytes:
    """The data set of a Part-10 object, after its File Meta Information (which each writer makes its own)."""
    assert part10[128:132] == b"DICM"
    # (0002,0000) UL File Meta Information Group Length: 12 bytes of element, then that many bytes of meta
    assert part10[132:136] == b"\x02\x00\x00\x00"
    group_length = int.from_bytes(part10[140:144], "little")
    return part10[144 + group_length :]


def wado_instance(live: LiveServer, ds: Dataset) -> bytes:
    """The instance through WADO-RS as stored (transfer-syntax=*), as raw bytes of the single part."""
    with live.client() as c:
        r = c.get(
            f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/"
            f"{ds.SOPInstanceUID}",
            headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'},
        )
    assert r.status_code == 200, r.text
    boundary = r.headers["content-type"].split("boundary=")[1].split(";")[0].strip('"')
    part = r.content.split(f"--{boundary}".encode())[1]
    body = part.split(b"\r\n\r\n", 1)[1]
    return body[: -len(b"\r\n")] if body.endswith(b"\r\n") else body


def find(assoc: Association, identifier: Dataset, model=StudyRootQueryRetrieveInformationModelFind):
    """All C-FIND responses as (status, identifier)."""
    return [(int(s.Status), i) for s, i in assoc.send_c_find(identifier, model)]


def study_query(**keys: str) -> Dataset:
    q = Dataset()
    q.QueryRetrieveLevel = "STUDY"
    q.StudyInstanceUID = ""
    for k, v in keys.items():
        setattr(q, k, v)
    return q


def seed(archive: Archive, datasets: list[Dataset]) -> None:
    outcomes = archive.live.services.ingest.store_many([to_bytes(ds) for ds in datasets])
    assert all(o.ok for o in outcomes), [o.detail for o in outcomes if not o.ok]


class StoreSCP:
    """A pynetdicom Storage SCP used as a C-MOVE destination; ``statuses`` maps SOP Instance UID → status."""

    def __init__(self, ae_title: str, transfer_syntaxes: list[str], statuses: dict[str, int] | None = None):
        self.received: dict[str, Dataset] = {}
        self.syntaxes: dict[str, str] = {}
        self.statuses = statuses or {}
        self.ae = AE(ae_title=ae_title)
        self.ae.add_supported_context(Verification)
        for cx in StoragePresentationContexts:
            self.ae.add_supported_context(cx.abstract_syntax, transfer_syntaxes)
        self.port = free_port()
        self.server = self.ae.start_server(
            ("127.0.0.1", self.port), block=False, evt_handlers=[(evt.EVT_C_STORE, self._on_store)]
        )

    def _on_store(self, event: evt.Event) -> int:
        ds = event.dataset
        uid = str(ds.SOPInstanceUID)
        self.received[uid] = ds
        self.syntaxes[uid] = str(event.context.transfer_syntax)
        return self.statuses.get(uid, 0x0000)

    def stop(self) -> None:
        self.ae.shutdown()


# ---------------------------------------------------------------------------------------------------------
# Verification
# ---------------------------------------------------------------------------------------------------------


def test_echo_with_dcmtk_and_pynetdicom(archive: Archive) -> None:
    r = run(["echoscu", "-aet", "ECHOSCU", "-aec", PACS_AET, "127.0.0.1", str(archive.port)])
    assert r.returncode == 0, r.stderr
    assoc = archive.associate([build_context(Verification)])
    assert int(assoc.send_c_echo().Status) == 0x0000
    assoc.release()


def test_association_sockets_have_nagle_disabled(archive: Archive) -> None:
    """No fixed ~40 ms per message from Nagle + delayed ACK: accepted sockets have TCP_NODELAY and quick ACKs."""
    assoc = archive.associate([build_context(Verification)])
    try:
        mine = assoc.dul.socket.socket.getsockname()
        server_side = [
            a
            for a in archive.dimse.active_associations
            if a.dul.socket and a.dul.socket.socket and a.dul.socket.socket.getpeername() == mine
        ]
        assert len(server_side) == 1
        sock = server_side[0].dul.socket.socket
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        # and it ACKs at once, so an SCU that keeps Nagle on is not held up by delayed ACKs
        assert isinstance(sock, QuickAckSocket)
        assert int(assoc.send_c_echo().Status) == 0  # the wrapped socket carries the association
    finally:
        assoc.release()


# ---------------------------------------------------------------------------------------------------------
# Storage
# ---------------------------------------------------------------------------------------------------------


def test_storescu_instances_come_back_through_wado(archive: Archive, tmp_path: Path) -> None:
    files = fresh_copies(tmp_path)
    # storescu proposes uncompressed syntaxes unless told which compressed one to propose
    propose = {
        "1.2.840.10008.1.2.5": ["-xr"],
        "1.2.840.10008.1.2.4.91": ["-xw"],
        "1.2.840.10008.1.2.4.50": ["-xy"],
        "1.2.840.10008.1.2.4.80": ["-xt"],
    }
    for f in files:
        ts = str(pydicom.dcmread(f, stop_before_pixels=True).file_meta.TransferSyntaxUID)
        args = ["storescu", "-R", *propose.get(ts, []), "-aet", "STORESCU", "-aec", PACS_AET]
        r = run([*args, "127.0.0.1", str(archive.port), str(f)])
        assert r.returncode == 0, f"{f.name}: {r.stdout + r.stderr}"
        assert "Store Failed" not in r.stderr, r.stderr
    for f in files:
        original = pydicom.dcmread(f)
        stored = pydicom.dcmread(BytesIO(wado_instance(archive.live, original)))
        assert stored.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID, f.name
        # storescu re-encodes what it sends (it drops Data Set Trailing Padding, for one), so compare the
        # elements here; the byte-for-byte check is the next test, with a sender that sends the file's bytes
        original.pop(0xFFFCFFFC, None)
        differ = [e.keyword for e in original if e.tag not in stored or stored[e.tag] != e]
        if differ == ["PixelData"]:  # dcmtk pads the JPEG-LS file's odd-length fragment: same pixels
            assert (stored.pixel_array == original.pixel_array).all(), f.name
            differ = []
        assert differ == [], f"{f.name}: {differ}"


def test_cstore_bytes_come_back_byte_identical_through_wado(archive: Archive, tmp_path: Path) -> None:
    """What arrives by C-STORE is kept as received: WADO-RS with transfer-syntax=* returns the same data set
    bytes (the File Meta Information is the archive's own, as Part 10 makes it the writer's)."""
    files = fresh_copies(tmp_path)
    contexts = []
    for f in files:
        meta = pydicom.dcmread(f, stop_before_pixels=True).file_meta
        contexts.append(build_context(meta.MediaStorageSOPClassUID, meta.TransferSyntaxUID))
    assoc = archive.associate(contexts)
    try:
        for f in files:
            raw = f.read_bytes()
            ds = pydicom.dcmread(BytesIO(raw))
            status = _send_raw(
                assoc, ds.SOPClassUID, ds.SOPInstanceUID, dataset_bytes(raw), ds.file_meta.TransferSyntaxUID
            )
            assert status == 0x0000, f.name
    finally:
        assoc.release()
    for f in files:
        raw = f.read_bytes()
        got = wado_instance(archive.live, pydicom.dcmread(BytesIO(raw)))
        assert dataset_bytes(got) == dataset_bytes(raw), f"{f.name} did not come back byte-identical"


def test_store_is_idempotent_and_counts_in_qido(archive: Archive) -> None:
    study, series = generate_uid(), generate_uid()
    datasets = [
        ct_dataset(study_uid=study, series_uid=series, instance_number=i, seed=i) for i in range(1, 6)
    ]
    assoc = archive.associate(
        [build_context(CTImageStorage, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])]
    )
    for ds in datasets + datasets[:2]:  # the first two twice: a retry must not duplicate
        assert int(assoc.send_c_store(ds).Status) == 0x0000
    assoc.release()
    client = DICOMwebClient(archive.live.dicomweb)
    [s] = client.search_for_studies(search_filters={"StudyInstanceUID": study})
    assert s["00201208"]["Value"] == [5]


def test_unknown_sop_class_and_transfer_syntax_are_rejected_at_negotiation(archive: Archive) -> None:
    unknown_class = "1.2.826.0.1.3680043.10.1337.99"
    unknown_ts = "1.2.826.0.1.3680043.10.1337.98"
    assoc = archive.associate(
        [
            build_context(Verification),
            build_context(unknown_class, [ExplicitVRLittleEndian]),
            build_context(CTImageStorage, [unknown_ts]),
        ]
    )
    try:
        results = {cx.abstract_syntax: cx.result for cx in assoc.rejected_contexts}
        assert results.get(unknown_class) == 0x03  # abstract syntax not supported
        assert results.get(CTImageStorage) == 0x04  # transfer syntaxes not supported
        assert [cx.abstract_syntax for cx in assoc.accepted_contexts] == [Verification]
        with pytest.raises(ValueError):
            assoc.send_c_store(ct_dataset())
        assert int(assoc.send_c_echo().Status) == 0
    finally:
        assoc.release()


def _send_raw(
    assoc: Association,
    sop_class: str,
    sop_instance: str,
    dataset: bytes,
    syntax: str = ExplicitVRLittleEndian,
) -> int:
    """A C-STORE whose data set bytes are sent as they are (pynetdicom's chunked-file path)."""
    from pynetdicom import _config

    meta = Dataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = syntax
    holder = Dataset()
    holder.file_meta = pydicom.dataset.FileMetaDataset(meta)
    buf = BytesIO()
    pydicom.filewriter.write_file_meta_info(buf, holder.file_meta, enforce_standard=True)
    with tempfile.NamedTemporaryFile(suffix=".dcm", delete=False) as fh:
        fh.write(b"\0" * 128 + b"DICM" + buf.getvalue() + dataset)
        path = fh.name
    old = _config.STORE_SEND_CHUNKED_DATASET
    _config.STORE_SEND_CHUNKED_DATASET = True
    try:
        return int(assoc.send_c_store(path).Status)
    finally:
        _config.STORE_SEND_CHUNKED_DATASET = old
        Path(path).unlink()


def test_bad_stores_get_their_status_and_nothing_stored_is_lost(archive: Archive) -> None:
    study = generate_uid()
    good = ct_dataset(study_uid=study)
    assoc = archive.associate([build_context(CTImageStorage, [ExplicitVRLittleEndian])])
    try:
        assert int(assoc.send_c_store(good).Status) == 0x0000

        # a data set without SOP Instance UID: "Data Set does not match SOP Class" (PS3.4 B.2.3)
        no_uid = ct_dataset(study_uid=study)
        del no_uid.SOPInstanceUID
        body = dataset_bytes(to_bytes(no_uid))
        assert _send_raw(assoc, CTImageStorage, generate_uid(), body) == 0xA900

        # a data set cut short in its Pixel Data: "Cannot understand"
        cut = ct_dataset(study_uid=study, instance_number=3)
        status = _send_raw(assoc, CTImageStorage, cut.SOPInstanceUID, dataset_bytes(to_bytes(cut))[:-1000])
        assert 0xC000 <= status <= 0xCFFF

        # bytes that are no data set at all: a failure status (pydicom reads them as a data set without
        # valid UIDs, so the archive answers 0xA900 rather than 0xC000)
        garbage = b"\x08\x00\x16\x00UI\xff\xff" + b"\x01\x02\x03" * 50
        status = _send_raw(assoc, CTImageStorage, generate_uid(), garbage)
        assert status == 0xA900 or 0xC000 <= status <= 0xCFFF

        # a data set that is not the instance the command names (Affected SOP Instance UID): 0xA900, not stored
        other = ct_dataset(study_uid=study, instance_number=4)
        claimed = generate_uid()
        assert _send_raw(assoc, CTImageStorage, claimed, dataset_bytes(to_bytes(other))) == 0xA900

        # the association still works, and so does the archive
        after = ct_dataset(study_uid=study, instance_number=2)
        assert int(assoc.send_c_store(after).Status) == 0x0000
    finally:
        assoc.release()
    client = DICOMwebClient(archive.live.dicomweb)
    found = {i["00080018"]["Value"][0] for i in client.search_for_instances(study)}
    assert found == {good.SOPInstanceUID, after.SOPInstanceUID}


def test_parallel_associations_through_pgbouncer(pgbouncer: str, tmp_path: Path) -> None:
    """Four associations storing at once, the SCP's handler threads reaching PostgreSQL through pgbouncer in
    transaction mode (no session state, no prepared statements): everything is stored once and found."""
    from concurrent.futures import ThreadPoolExecutor

    from pacs.services import Services

    settings = make_settings(pgbouncer, tmp_path / "store", db_pool_size=2, db_max_overflow=2)
    services = Services.create(settings)
    server = DimseServer(settings, services, host="127.0.0.1", port=0)
    server.start()
    study = generate_uid()
    series = [generate_uid() for _ in range(4)]

    def store(k: int) -> list[int]:
        ae = AE(ae_title=f"PAR{k}")
        ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
        assoc = ae.associate("127.0.0.1", server.port, ae_title=settings.ae_title)
        assert assoc.is_established
        statuses = [
            int(
                assoc.send_c_store(
                    ct_dataset(study_uid=study, series_uid=series[k], instance_number=i)
                ).Status
            )
            for i in range(1, 9)
        ]
        assoc.release()
        return statuses

    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(store, range(4)))
        assert results == [[0] * 8] * 4
        ae = AE(ae_title="PARFIND")
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
        assoc = ae.associate("127.0.0.1", server.port, ae_title=settings.ae_title)
        q = study_query()
        q.StudyInstanceUID = study
        q.NumberOfStudyRelatedSeries = ""
        q.NumberOfStudyRelatedInstances = ""
        rsp = find(assoc, q)
        assoc.release()
        [(status, ident)] = rsp[:-1]
        assert status == 0xFF00
        assert int(ident.NumberOfStudyRelatedSeries) == 4
        assert int(ident.NumberOfStudyRelatedInstances) == 32
    finally:
        server.stop()
        services.close()


def test_calling_ae_titles_can_be_restricted(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path / "store", dimse_allowed_calling_aets="MODALITY1, WS2")
    from pacs.services import Services

    services = Services.create(settings)
    server = DimseServer(settings, services, host="127.0.0.1", port=0)
    server.start()
    try:
        for aet, ok in (("MODALITY1", True), ("WS2", True), ("INTRUDER", False)):
            ae = AE(ae_title=aet)
            ae.add_requested_context(Verification)
            assoc = ae.associate("127.0.0.1", server.port, ae_title=settings.ae_title)
            assert assoc.is_established is ok, aet
            if ok:
                assoc.release()
            else:
                assert assoc.is_rejected
    finally:
        server.stop()
        services.close()


def test_maximum_associations(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path / "store", dimse_max_associations=2)
    from pacs.services import Services

    services = Services.create(settings)
    server = DimseServer(settings, services, host="127.0.0.1", port=0)
    server.start()
    ae = AE(ae_title="MANY")
    ae.add_requested_context(Verification)
    opened = []
    try:
        for _ in range(2):
            a = ae.associate("127.0.0.1", server.port, ae_title=settings.ae_title)
            assert a.is_established
            opened.append(a)
        third = ae.associate("127.0.0.1", server.port, ae_title=settings.ae_title)
        assert third.is_rejected
        opened[0].release()
        again = ae.associate("127.0.0.1", server.port, ae_title=settings.ae_title)
        assert again.is_established
        opened[0] = again
    finally:
        for a in opened:
            a.release()
        server.stop()
        services.close()


def test_a_stalled_peer_is_dropped_and_others_are_served(archive: Archive) -> None:
    """A peer that sends half an A-ASSOCIATE-RQ and stalls is disconnected after the network timeout (3 s
    here); meanwhile other associations are served."""
    stalled = socket.create_connection(("127.0.0.1", archive.port))
    stalled.settimeout(30)
    # PDU type 0x01 announcing 200 bytes, then nothing more
    stalled.sendall(b"\x01\x00\x00\x00\x00\xc8\x00\x01")
    assoc = archive.associate([build_context(Verification)])
    assert int(assoc.send_c_echo().Status) == 0
    assoc.release()
    received = b""
    try:
        while chunk := stalled.recv(1024):
            received += chunk
    except ConnectionResetError:
        pass
    stalled.close()
    # closed by the SCP (recv returned b"" or reset); if anything was sent it is an A-ABORT (0x07) or
    # A-ASSOCIATE-RJ (0x03), never an acceptance
    assert received[:1] in (b"", b"\x07", b"\x03")
    r = run(["echoscu", "-aec", PACS_AET, "127.0.0.1", str(archive.port)])
    assert r.returncode == 0


# ---------------------------------------------------------------------------------------------------------
# Query
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def query_data(archive: Archive, clean_db: None) -> dict[str, str]:
    """Five studies with varied names (one non-ASCII), dates and modalities."""
    studies = {
        "doe1": dict(patient_name="Doe^John", patient_id="P1", accession="A1", study_date="20200105"),
        "doe2": dict(patient_name="Doe^Jane", patient_id="P2", accession="A2", study_date="20210610"),
        "mul": dict(patient_name="Müller^Zoë", patient_id="P3", accession="A3", study_date="20220301"),
        "smith": dict(patient_name="Smith^Anna", patient_id="P4", accession="A4", study_date="20230715"),
        "mr": dict(patient_name="Doering^Max", patient_id="P5", accession="A5", study_date="20240101"),
    }
    uids: dict[str, str] = {}
    datasets = []
    for key, attrs in studies.items():
        uid = generate_uid()
        uids[key] = uid
        modality = "MR" if key == "mr" else "CT"
        series = generate_uid()
        for i in (1, 2):
            datasets.append(
                ct_dataset(study_uid=uid, series_uid=series, modality=modality, instance_number=i, **attrs)
            )
    seed(archive, datasets)
    return uids


QUERIES: list[dict[str, str]] = [
    {},
    {"PatientName": "Doe*"},
    {"PatientName": "doe^j*"},
    {"PatientName": "?oe^Jane"},
    {"PatientName": "Müller*"},
    {"PatientName": "MULLER^ZOE"},
    {"PatientID": "P4"},
    {"StudyDate": "20210101-20221231"},
    {"StudyDate": "-20201231"},
    {"StudyDate": "20230101-"},
    {"AccessionNumber": "A1"},
    {"ModalitiesInStudy": "MR"},
    {"PatientName": "Doe*", "StudyDate": "20210101-"},
]


def _uids(responses: list[tuple[int, Dataset | None]], keyword: str = "StudyInstanceUID") -> list[str]:
    assert responses[-1][0] == 0x0000, [hex(s) for s, _ in responses]
    pending = [i for s, i in responses if s in (0xFF00, 0xFF01)]
    return sorted(str(getattr(i, keyword)) for i in pending)


@pytest.mark.parametrize("charset", ["ISO_IR 192", "ISO_IR 100"])
def test_find_and_qido_answer_the_same_studies(
    archive: Archive, query_data: dict[str, str], charset: str
) -> None:
    client = DICOMwebClient(archive.live.dicomweb)
    assoc = archive.associate([build_context(StudyRootQueryRetrieveInformationModelFind)])
    try:
        for keys in QUERIES:
            q = study_query(**keys)
            q.SpecificCharacterSet = charset
            dimse = _uids(find(assoc, q))
            qido = sorted(s["0020000D"]["Value"][0] for s in client.search_for_studies(search_filters=keys))
            assert dimse == qido, keys
            assert dimse, f"{keys} matched nothing; the query set is meant to match"
        # UID lists (and a check that the comparison can fail: QIDO answers the same list)
        wanted = sorted([query_data["doe1"], query_data["smith"]])
        q = study_query()
        q.StudyInstanceUID = wanted
        assert _uids(find(assoc, q)) == wanted
    finally:
        assoc.release()


def test_find_returns_exactly_the_requested_keys_with_values(
    archive: Archive, query_data: dict[str, str]
) -> None:
    assoc = archive.associate([build_context(StudyRootQueryRetrieveInformationModelFind)])
    try:
        q = study_query(PatientName="Müller*")
        q.PatientID = ""
        q.StudyDate = ""
        q.ModalitiesInStudy = ""
        q.NumberOfStudyRelatedInstances = ""
        q.NumberOfStudyRelatedSeries = ""
        q.StudyComments = ""  # not kept by the index: returned empty
        responses = find(assoc, q)
        [(status, ident)] = responses[:-1]
        assert status == 0xFF00
        assert ident.SpecificCharacterSet == "ISO_IR 192"
        assert str(ident.PatientName) == "Müller^Zoë"
        assert ident.PatientID == "P3"
        assert ident.StudyDate == "20220301"
        assert ident.ModalitiesInStudy == "CT"
        assert int(ident.NumberOfStudyRelatedInstances) == 2
        assert int(ident.NumberOfStudyRelatedSeries) == 1
        assert ident.StudyComments == ""
        assert ident.QueryRetrieveLevel == "STUDY"
        assert ident.StudyInstanceUID == query_data["mul"]
        assert "AccessionNumber" not in ident  # not asked for
    finally:
        assoc.release()


def test_find_at_every_level_of_both_models(archive: Archive, query_data: dict[str, str]) -> None:
    assoc = archive.associate(
        [
            build_context(PatientRootQueryRetrieveInformationModelFind),
            build_context(StudyRootQueryRetrieveInformationModelFind),
        ]
    )
    try:
        q = Dataset()
        q.QueryRetrieveLevel = "PATIENT"
        q.PatientName = "Doe*"
        q.PatientID = ""
        q.NumberOfPatientRelatedStudies = ""
        rsp = find(assoc, q, PatientRootQueryRetrieveInformationModelFind)
        assert _uids(rsp, "PatientID") == ["P1", "P2", "P5"]  # Doe^John, Doe^Jane, Doering^Max
        assert all(int(i.NumberOfPatientRelatedStudies) == 1 for s, i in rsp[:-1])

        for model in (
            PatientRootQueryRetrieveInformationModelFind,
            StudyRootQueryRetrieveInformationModelFind,
        ):
            q = Dataset()
            q.QueryRetrieveLevel = "SERIES"
            q.StudyInstanceUID = query_data["mr"]
            q.SeriesInstanceUID = ""
            q.Modality = ""
            q.NumberOfSeriesRelatedInstances = ""
            rsp = find(assoc, q, model)
            [(status, ident)] = rsp[:-1]
            assert status == 0xFF00
            assert ident.Modality == "MR" and int(ident.NumberOfSeriesRelatedInstances) == 2

            q = Dataset()
            q.QueryRetrieveLevel = "IMAGE"
            q.StudyInstanceUID = query_data["doe1"]
            q.SeriesInstanceUID = ""
            q.SOPInstanceUID = ""
            q.InstanceNumber = ""
            q.Rows = ""
            rsp = find(assoc, q, model)
            assert sorted(int(i.InstanceNumber) for _, i in rsp[:-1]) == [1, 2]
            assert all(int(i.Rows) == 64 for _, i in rsp[:-1])
    finally:
        assoc.release()


def test_findscu_matches_qido(archive: Archive, query_data: dict[str, str], tmp_path: Path) -> None:
    client = DICOMwebClient(archive.live.dicomweb)
    cases: list[dict[str, str]] = [
        {"PatientName": "Doe*"},
        {"StudyDate": "20210101-20231231"},
        {"ModalitiesInStudy": "MR"},
        {"PatientName": "Müller^Zoë"},  # sent as UTF-8 under Specific Character Set ISO_IR 192
    ]
    for n, keys in enumerate(cases):
        out = tmp_path / str(n)
        out.mkdir()
        args = ["findscu", "-S", "-aet", "FINDSCU", "-aec", PACS_AET, "-X", "-od", str(out)]
        args += [
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            "StudyInstanceUID=",
            "-k",
            "SpecificCharacterSet=ISO_IR 192",
        ]
        for k, v in keys.items():
            args += ["-k", f"{k}={v}"]
        r = run([*args, "127.0.0.1", str(archive.port)])
        assert r.returncode == 0, r.stderr
        responses = [pydicom.dcmread(p) for p in out.glob("rsp*.dcm")]
        dimse = sorted(str(rsp.StudyInstanceUID) for rsp in responses)
        qido = sorted(s["0020000D"]["Value"][0] for s in client.search_for_studies(search_filters=keys))
        assert dimse == qido and dimse, keys
        if "PatientName" in keys:
            assert all(
                str(rsp.PatientName).lower().startswith(keys["PatientName"][:3].lower()) for rsp in responses
            )


def test_find_bad_identifiers_get_failure_statuses(archive: Archive, query_data: dict[str, str]) -> None:
    assoc = archive.associate([build_context(StudyRootQueryRetrieveInformationModelFind)])
    try:
        no_level = Dataset()
        no_level.PatientName = "*"
        patient_in_study_root = Dataset()
        patient_in_study_root.QueryRetrieveLevel = "PATIENT"
        patient_in_study_root.PatientID = ""
        bogus_level = Dataset()
        bogus_level.QueryRetrieveLevel = "FRAME"
        bad_date = study_query(StudyDate="2020-13-45")
        bad_uid = study_query()
        bad_uid.StudyInstanceUID = "not-a-uid"
        for ident in (no_level, patient_in_study_root, bogus_level, bad_date, bad_uid):
            [(status, _)] = find(assoc, ident)
            assert status == 0xA900, ident
        # the association keeps working
        assert _uids(find(assoc, study_query(PatientID="P1"))) == [query_data["doe1"]]
    finally:
        assoc.release()


def test_find_with_an_unsupported_matching_key_warns_in_pending_responses(
    archive: Archive, query_data: dict[str, str]
) -> None:
    assoc = archive.associate([build_context(StudyRootQueryRetrieveInformationModelFind)])
    try:
        q = study_query(PatientID="P2")
        item = Dataset()
        item.CodeValue = "XYZ"
        q.ProcedureCodeSequence = [item]
        rsp = find(assoc, q)
        assert [s for s, _ in rsp] == [0xFF01, 0x0000]
    finally:
        assoc.release()


def test_find_pages_through_more_matches_than_one_page(
    archive: Archive, query_data: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Matches are read from the index a page at a time (keyset on the index id): each comes exactly once."""
    import pacs.dimse.server as scp

    monkeypatch.setattr(scp, "FIND_PAGE", 2)
    assoc = archive.associate([build_context(StudyRootQueryRetrieveInformationModelFind)])
    try:
        assert _uids(find(assoc, study_query())) == sorted(query_data.values())  # 5 studies, pages of 2
        image = Dataset()
        image.QueryRetrieveLevel = "IMAGE"
        image.StudyInstanceUID = query_data["doe1"]
        image.SeriesInstanceUID = ""
        image.SOPInstanceUID = ""
        series = _uids(find(assoc, _series_q(query_data["doe1"])), "SeriesInstanceUID")
        assert len(series) == 1
        image.SeriesInstanceUID = series[0]
        sops = _uids(find(assoc, image), "SOPInstanceUID")
        assert len(sops) == 2 and len(set(sops)) == 2  # one page exactly full, then an empty one
    finally:
        assoc.release()


def _series_q(study_uid: str) -> Dataset:
    q = Dataset()
    q.QueryRetrieveLevel = "SERIES"
    q.StudyInstanceUID = study_uid
    q.SeriesInstanceUID = ""
    return q


def test_find_is_cancelled_by_c_cancel(
    archive: Archive, clean_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """C-CANCEL (PS3.7 9.3.2.3) stops a C-FIND that is still sending matches: the last status is Cancel."""
    import pacs.dimse.server as scp

    monkeypatch.setattr(scp, "FIND_PAGE", 1)  # one index query per match: plenty of time to cancel
    seed(archive, [ct_dataset(study_uid=generate_uid(), patient_id=f"C{i}") for i in range(300)])
    assoc = archive.associate([build_context(StudyRootQueryRetrieveInformationModelFind)])
    try:
        context_id = assoc.accepted_contexts[0].context_id
        statuses = []
        for status, _ in assoc.send_c_find(
            study_query(), StudyRootQueryRetrieveInformationModelFind, msg_id=7
        ):
            statuses.append(int(status.Status))
            if len(statuses) == 1:
                assoc.send_c_cancel(7, context_id)
        assert statuses[-1] == 0xFE00, [hex(s) for s in statuses[-3:]]
        assert len(statuses) < 300
        # the association is still usable afterwards
        assert len(_uids(find(assoc, study_query(PatientID="C1")))) == 1
    finally:
        assoc.release()


# ---------------------------------------------------------------------------------------------------------
# Retrieve
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def storescp(archive: Archive, tmp_path: Path) -> Iterator[Path]:
    """dcmtk's storescp as the configured C-MOVE destination STORESCP (uncompressed syntaxes only)."""
    out = tmp_path / "storescp"
    out.mkdir()
    proc = subprocess.Popen(
        ["storescp", "-aet", STORESCP_AET, "-od", str(out), str(archive.storescp_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    for _ in range(100):
        r = run(["echoscu", "-aec", STORESCP_AET, "127.0.0.1", str(archive.storescp_port)], timeout=5)
        if r.returncode == 0:
            break
        threading.Event().wait(0.05)
    yield out
    proc.terminate()
    proc.wait(timeout=10)


def test_movescu_to_storescp(archive: Archive, storescp: Path) -> None:
    study = generate_uid()
    series = generate_uid()
    datasets = [
        ct_dataset(study_uid=study, series_uid=series, instance_number=i, seed=i) for i in range(1, 5)
    ]
    seed(archive, datasets)
    r = run(
        [
            "movescu",
            "-S",
            "-aet",
            "MOVESCU",
            "-aec",
            PACS_AET,
            "-aem",
            STORESCP_AET,
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            f"StudyInstanceUID={study}",
            "127.0.0.1",
            str(archive.port),
        ]
    )
    assert r.returncode == 0, r.stderr
    got = {str(pydicom.dcmread(p).SOPInstanceUID): pydicom.dcmread(p) for p in storescp.iterdir()}
    assert set(got) == {ds.SOPInstanceUID for ds in datasets}
    for ds in datasets:
        assert got[ds.SOPInstanceUID].PixelData == ds.PixelData


def test_move_counts_completed_failed_and_warning_suboperations(archive: Archive) -> None:
    study = generate_uid()
    series = generate_uid()
    datasets = [
        ct_dataset(study_uid=study, series_uid=series, instance_number=i, seed=i) for i in range(1, 6)
    ]
    seed(archive, datasets)
    fail_uid, warn_uid = datasets[1].SOPInstanceUID, datasets[3].SOPInstanceUID
    scp = StoreSCP("PYSTORE", [ExplicitVRLittleEndian], {fail_uid: 0xA700, warn_uid: 0xB000})
    try:
        with archive.live.client() as c:
            r = c.post(
                "/api/dimse/destinations",
                json={"ae_title": "PYSTORE", "host": "127.0.0.1", "port": scp.port, "description": "test"},
            )
            assert r.status_code == 201, r.text
        assoc = archive.associate([build_context(StudyRootQueryRetrieveInformationModelMove)])
        q = Dataset()
        q.QueryRetrieveLevel = "SERIES"
        q.StudyInstanceUID = study
        q.SeriesInstanceUID = series
        responses = list(assoc.send_c_move(q, "PYSTORE", StudyRootQueryRetrieveInformationModelMove))
        assoc.release()
        statuses = [int(s.Status) for s, _ in responses]
        assert statuses[:-1] == [0xFF00] * 5
        remaining = [int(s.NumberOfRemainingSuboperations) for s, _ in responses[:-1]]
        assert remaining == [4, 3, 2, 1, 0]
        final, ident = responses[-1]
        assert int(final.Status) == 0xB000  # sub-operations complete, one or more failures or warnings
        assert int(final.NumberOfCompletedSuboperations) == 3
        assert int(final.NumberOfFailedSuboperations) == 1
        assert int(final.NumberOfWarningSuboperations) == 1
        assert (
            list(ident.FailedSOPInstanceUIDList) == [fail_uid] or ident.FailedSOPInstanceUIDList == fail_uid
        )
        assert set(scp.received) == {ds.SOPInstanceUID for ds in datasets}
    finally:
        scp.stop()
        with archive.live.client() as c:
            c.delete("/api/dimse/destinations/PYSTORE")


def test_move_transcodes_for_a_peer_without_the_codec(archive: Archive, tmp_path: Path) -> None:
    """An instance stored as RLE / JPEG 2000 goes to a peer that accepts only uncompressed syntaxes decoded,
    and as stored to a peer that accepts the stored syntax."""
    copies = {p.name: pydicom.dcmread(p) for p in fresh_copies(tmp_path)}
    rle, j2k = copies["MR_small_RLE.dcm"], copies["JPEG2000.dcm"]
    seed(archive, [rle, j2k])
    plain = StoreSCP("PLAIN", [ImplicitVRLittleEndian])
    rich = StoreSCP("RICH", [RLELossless, JPEG2000, ExplicitVRLittleEndian])
    try:
        with archive.live.client() as c:
            for scp in (plain, rich):
                body = {"ae_title": scp.ae.ae_title, "host": "127.0.0.1", "port": scp.port}
                assert c.post("/api/dimse/destinations", json=body).status_code == 201
        assoc = archive.associate([build_context(StudyRootQueryRetrieveInformationModelMove)])
        for scp in (plain, rich):
            for ds in (rle, j2k):
                q = Dataset()
                q.QueryRetrieveLevel = "STUDY"
                q.StudyInstanceUID = ds.StudyInstanceUID
                final = list(
                    assoc.send_c_move(q, scp.ae.ae_title, StudyRootQueryRetrieveInformationModelMove)
                )[-1][0]
                assert int(final.Status) == 0 and int(final.NumberOfCompletedSuboperations) == 1
        assoc.release()
        assert plain.syntaxes == {
            rle.SOPInstanceUID: ImplicitVRLittleEndian,
            j2k.SOPInstanceUID: ImplicitVRLittleEndian,
        }
        assert rich.syntaxes == {rle.SOPInstanceUID: RLELossless, j2k.SOPInstanceUID: JPEG2000}
        # decoded pixels equal the original's decoded pixels
        got = plain.received[rle.SOPInstanceUID]
        got.file_meta = pydicom.dataset.FileMetaDataset()
        got.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        assert (got.pixel_array == rle.pixel_array).all()
        assert rich.received[j2k.SOPInstanceUID].PixelData == j2k.PixelData
    finally:
        plain.stop()
        rich.stop()
        with archive.live.client() as c:
            c.delete("/api/dimse/destinations/PLAIN")
            c.delete("/api/dimse/destinations/RICH")


def test_move_refusals(archive: Archive) -> None:
    study = generate_uid()
    seed(archive, [ct_dataset(study_uid=study)])
    scp = StoreSCP("REFUSALS", [ExplicitVRLittleEndian])
    assoc = archive.associate([build_context(StudyRootQueryRetrieveInformationModelMove)])
    try:
        with archive.live.client() as c:
            body = {"ae_title": "REFUSALS", "host": "127.0.0.1", "port": scp.port}
            assert c.post("/api/dimse/destinations", json=body).status_code == 201
        q = Dataset()
        q.QueryRetrieveLevel = "STUDY"
        q.StudyInstanceUID = study
        [(status, _)] = list(assoc.send_c_move(q, "NOBODY", StudyRootQueryRetrieveInformationModelMove))
        assert int(status.Status) == 0xA801  # move destination unknown

        no_key = Dataset()
        no_key.QueryRetrieveLevel = "STUDY"
        final = list(assoc.send_c_move(no_key, "REFUSALS", StudyRootQueryRetrieveInformationModelMove))[-1][0]
        assert int(final.Status) == 0xA900  # identifier does not match SOP class

        bad_level = Dataset()
        bad_level.QueryRetrieveLevel = "PATIENT"  # not in the Study Root model
        bad_level.PatientID = "X"
        final = list(assoc.send_c_move(bad_level, "REFUSALS", StudyRootQueryRetrieveInformationModelMove))[
            -1
        ][0]
        assert int(final.Status) == 0xA900

        # and a good one still works on the same association
        final = list(assoc.send_c_move(q, "REFUSALS", StudyRootQueryRetrieveInformationModelMove))[-1][0]
        assert int(final.Status) == 0 and int(final.NumberOfCompletedSuboperations) == 1
        assert len(scp.received) == 1
    finally:
        assoc.release()
        scp.stop()
        with archive.live.client() as c:
            c.delete("/api/dimse/destinations/REFUSALS")


def _get_assoc(archive: Archive, syntaxes: list[str]) -> tuple[Association, dict[str, Dataset]]:
    received: dict[str, Dataset] = {}

    def on_store(event: evt.Event) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        received[str(ds.SOPInstanceUID)] = ds
        received[str(ds.SOPInstanceUID) + ":raw"] = event.encoded_dataset()  # type: ignore[assignment]
        return 0x0000

    classes = [CTImageStorage, "1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.7"]
    contexts = [build_context(StudyRootQueryRetrieveInformationModelGet)]
    contexts.append(build_context(PatientRootQueryRetrieveInformationModelGet))
    contexts += [build_context(c, ts) for c in classes for ts in syntaxes]  # one context per syntax
    roles = [build_role(c, scp_role=True) for c in classes]
    assoc = archive.associate(contexts, ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    return assoc, received


def test_stow_then_cget_returns_the_same_bytes(archive: Archive, tmp_path: Path) -> None:
    raws = [p.read_bytes() for p in fresh_copies(tmp_path) if p.name in ("CT_small.dcm", "MR_small_RLE.dcm")]
    body, ctype = multipart(raws)
    with archive.live.client() as c:
        r = c.post("/dicom-web/studies", content=body, headers={"Content-Type": ctype})
    assert r.status_code == 200, r.text
    assoc, received = _get_assoc(archive, [ExplicitVRLittleEndian, RLELossless])
    try:
        for raw in raws:
            ds = pydicom.dcmread(BytesIO(raw))
            q = Dataset()
            q.QueryRetrieveLevel = "IMAGE"
            q.StudyInstanceUID = ds.StudyInstanceUID
            q.SeriesInstanceUID = ds.SeriesInstanceUID
            q.SOPInstanceUID = ds.SOPInstanceUID
            rsp = list(assoc.send_c_get(q, StudyRootQueryRetrieveInformationModelGet))
            final = rsp[-1][0]
            assert int(final.Status) == 0 and int(final.NumberOfCompletedSuboperations) == 1
            assert ds.SOPInstanceUID + ":raw" in received, (ds.SOPInstanceUID, list(received))
            got = received[ds.SOPInstanceUID + ":raw"]
            assert dataset_bytes(got) == dataset_bytes(raw), f"{ds.SOPInstanceUID} changed on the way"
    finally:
        assoc.release()


def test_cget_whole_study_counts_and_patient_level(archive: Archive) -> None:
    study = generate_uid()
    datasets = [
        ct_dataset(study_uid=study, patient_id="PGET", instance_number=i, seed=i) for i in range(1, 4)
    ]
    seed(archive, datasets)
    assoc, received = _get_assoc(archive, [ImplicitVRLittleEndian])
    try:
        q = Dataset()
        q.QueryRetrieveLevel = "PATIENT"
        q.PatientID = "PGET"
        rsp = list(assoc.send_c_get(q, PatientRootQueryRetrieveInformationModelGet))
        assert [int(s.Status) for s, _ in rsp] == [0xFF00, 0xFF00, 0xFF00, 0x0000]
        assert int(rsp[-1][0].NumberOfCompletedSuboperations) == 3
        assert {ds.SOPInstanceUID for ds in datasets} <= set(received)
        # a study that does not exist: success with no sub-operations
        q = Dataset()
        q.QueryRetrieveLevel = "STUDY"
        q.StudyInstanceUID = generate_uid()
        [(final, _)] = list(assoc.send_c_get(q, StudyRootQueryRetrieveInformationModelGet))
        assert int(final.Status) == 0 and int(final.NumberOfCompletedSuboperations) == 0
        # a C-GET with a wildcard where a unique key is required
        q.StudyInstanceUID = "1.2.*"
        final = list(assoc.send_c_get(q, StudyRootQueryRetrieveInformationModelGet))[-1][0]
        assert int(final.Status) == 0xA900
    finally:
        assoc.release()


def test_cget_counts_a_failure_for_an_instance_the_requestor_cannot_take(archive: Archive) -> None:
    """The requestor offers a Storage SCP role for CT only; the study's MR instance fails, the CTs complete."""
    study = generate_uid()
    cts = [ct_dataset(study_uid=study, instance_number=i, seed=i) for i in (1, 2)]
    mr = ct_dataset(study_uid=study, modality="MR", instance_number=3)
    mr.SOPClassUID = mr.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"  # MR Image Storage
    seed(archive, [*cts, mr])
    received: list[str] = []

    def on_store(event: evt.Event) -> int:
        received.append(str(event.dataset.SOPInstanceUID))
        return 0x0000

    contexts = [build_context(StudyRootQueryRetrieveInformationModelGet), build_context(CTImageStorage)]
    assoc = archive.associate(
        contexts,
        ext_neg=[build_role(CTImageStorage, scp_role=True)],
        evt_handlers=[(evt.EVT_C_STORE, on_store)],
    )
    try:
        q = Dataset()
        q.QueryRetrieveLevel = "STUDY"
        q.StudyInstanceUID = study
        rsp = list(assoc.send_c_get(q, StudyRootQueryRetrieveInformationModelGet))
    finally:
        assoc.release()
    final, ident = rsp[-1]
    assert int(final.Status) == 0xB000
    assert (int(final.NumberOfCompletedSuboperations), int(final.NumberOfFailedSuboperations)) == (2, 1)
    assert int(final.NumberOfWarningSuboperations) == 0
    assert str(ident.FailedSOPInstanceUIDList) == mr.SOPInstanceUID
    assert sorted(received) == sorted(ds.SOPInstanceUID for ds in cts)


def test_getscu(archive: Archive, tmp_path: Path) -> None:
    study = generate_uid()
    datasets = [ct_dataset(study_uid=study, instance_number=i, seed=i) for i in range(1, 4)]
    seed(archive, datasets)
    r = run(
        [
            "getscu",
            "-S",
            "-aet",
            "GETSCU",
            "-aec",
            PACS_AET,
            "-od",
            str(tmp_path),
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            f"StudyInstanceUID={study}",
            "127.0.0.1",
            str(archive.port),
        ]
    )
    assert r.returncode == 0, r.stderr
    got = {str(pydicom.dcmread(p).SOPInstanceUID) for p in tmp_path.iterdir() if p.is_file()}
    assert got == {ds.SOPInstanceUID for ds in datasets}


# ---------------------------------------------------------------------------------------------------------
# Destinations API
# ---------------------------------------------------------------------------------------------------------


def test_destinations_api(archive: Archive) -> None:
    with archive.live.client() as c:
        listed = c.get("/api/dimse/destinations").json()
        assert {"ae_title": STORESCP_AET, "host": "127.0.0.1", "port": archive.storescp_port}.items() <= next(
            d for d in listed if d["ae_title"] == STORESCP_AET
        ).items()
        r = c.post("/api/dimse/destinations", json={"ae_title": "WS1", "host": "10.1.2.3", "port": 104})
        assert r.status_code == 201 and r.json()["source"] == "api"
        assert (
            c.post("/api/dimse/destinations", json={"ae_title": "WS1", "host": "h", "port": 1}).status_code
            == 409
        )
        r = c.put("/api/dimse/destinations/WS1", json={"host": "10.1.2.4", "port": 4242, "description": "x"})
        assert r.status_code == 200 and r.json()["port"] == 4242
        assert c.get("/api/dimse/destinations/WS1").json()["host"] == "10.1.2.4"
        for bad in (
            {"ae_title": "", "host": "h", "port": 104},
            {"ae_title": "A" * 17, "host": "h", "port": 104},
            {"ae_title": "BACK\\SLASH", "host": "h", "port": 104},
            {"ae_title": "OK", "host": "h", "port": 70000},
            {"ae_title": "OK", "host": "", "port": 104},
            {"ae_title": "OK", "host": "h", "port": "many"},
        ):
            r = c.post("/api/dimse/destinations", json=bad)
            assert r.status_code == 400, bad
            assert set(r.json()) == {"error", "detail"}
        assert c.delete(f"/api/dimse/destinations/{STORESCP_AET}").status_code == 409  # from the setting
        assert c.delete("/api/dimse/destinations/WS1").status_code == 204
        assert c.delete("/api/dimse/destinations/WS1").status_code == 404
        assert c.put("/api/dimse/destinations/WS1", json={"host": "h", "port": 1}).status_code == 404


# ---------------------------------------------------------------------------------------------------------
# pacs serve
# ---------------------------------------------------------------------------------------------------------


def test_pacs_serve_only_dimse_and_only_http(database_url: str, tmp_path: Path) -> None:
    import os
    import sys
    import time

    import httpx

    exe = Path(sys.executable).parent / "pacs"
    dimse_port, http_port = free_port(), free_port()
    env = {
        **os.environ,
        "PACS_DATABASE_URL": database_url,
        "PACS_STORAGE_URL": str(tmp_path / "store"),
        "PACS_VAR_DIR": str(tmp_path),
        "PACS_SEED_DEMO": "false",
        "PACS_DIMSE_PORT": str(dimse_port),
        "PACS_HTTP_PORT": str(http_port),
        "PACS_HTTP_HOST": "127.0.0.1",
        "PACS_SHUTDOWN_DRAIN_SECONDS": "0",
        "PACS_SHUTDOWN_TIMEOUT_SECONDS": "2",
    }
    for only, dimse_up, http_up in (("dimse", True, False), ("http", False, True)):
        proc = subprocess.Popen(
            [str(exe), "serve", "--only", only], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            port = dimse_port if dimse_up else http_port
            for _ in range(300):
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) == 0:
                        break
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                time.sleep(0.05)
            echo = run(["echoscu", "-aec", PACS_AET, "127.0.0.1", str(dimse_port)], timeout=20)
            assert (echo.returncode == 0) is dimse_up, only
            try:
                http_ok = httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=5).status_code == 200
            except httpx.HTTPError:
                http_ok = False
            assert http_ok is http_up, only
        finally:
            proc.terminate()
            assert proc.wait(timeout=40) is not None


def test_dcmtk_tools_are_installed() -> None:
    for tool in ("echoscu", "storescu", "findscu", "movescu", "getscu", "storescp"):
        assert shutil.which(tool), f"{tool} missing: run `make system-deps` (installs dcmtk)"
