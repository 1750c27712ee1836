"""What a radiology department does: modalities in proportion, procedures that fit modality and body part,
and the series each procedure produces."""

from __future__ import annotations

import random
from dataclasses import dataclass

#: Share of studies per modality, close to a general hospital's mix (projection radiography dominates).
MODALITY_WEIGHTS: dict[str, float] = {
    "CR": 0.20,
    "DX": 0.14,
    "CT": 0.20,
    "MR": 0.13,
    "US": 0.16,
    "MG": 0.07,
    "PT": 0.03,
    "NM": 0.03,
    "XA": 0.04,
}


@dataclass(frozen=True)
class SeriesSpec:
    modality: str
    kind: str
    description: str
    n_instances: int
    laterality: str = ""


@dataclass(frozen=True)
class Procedure:
    modality: str
    description: str
    body_part: str
    weight: float = 1.0
    sex: str = ""  # "F" / "M" when the procedure only fits one sex
    min_age: float = 0.0
    region: str = "body"  # phantom to use: head, chest, abdomen, pelvis, spine, extremity, breast, heart

    def series_for(self, rng: random.Random) -> list[SeriesSpec]:
        return _SERIES[self.modality](self, rng)


def _ct(p: Procedure, rng: random.Random) -> list[SeriesSpec]:
    out = [SeriesSpec("CT", "CT-SCOUT", "Topogram 0.6 T20f", 1)]
    recon = [("Axial 5.0 mm", 24), ("Axial 2.0 mm", 40), ("Soft tissue 3.0 mm", 32)]
    if p.region in ("chest", "abdomen"):
        recon.append(("Lung 1.0 mm", 48))
    for desc, n in recon[: rng.randint(1, len(recon))]:
        out.append(SeriesSpec("CT", "CT", desc, n))
    if "W/ CONTRAST" in p.description or "ANGIO" in p.description:
        out.append(SeriesSpec("CT", "CT", "Venous phase 3.0 mm", 32))
    return out


_MR_SEQUENCES = {
    "head": ["t1_se_sag", "t2_tse_tra", "t2_flair_tra", "ep2d_diff_tra", "t1_mprage_tra", "swi_tra"],
    "spine": ["t2_tse_sag", "t1_tse_sag", "t2_tse_tra", "stir_sag"],
    "extremity": ["pd_fs_cor", "pd_fs_sag", "t1_tse_cor", "pd_fs_tra"],
    "abdomen": ["t2_haste_cor", "t2_haste_tra", "t1_vibe_dixon_tra", "ep2d_diff_tra"],
    "pelvis": ["t2_tse_sag", "t2_tse_tra", "t1_tse_tra", "ep2d_diff_tra"],
    "breast": ["t2_tse_tra", "t1_fl3d_dyn_tra", "ep2d_diff_tra"],
    "heart": ["cine_trufi_sax", "t2_haste_tra", "lge_psir_sax"],
}


def _mr(p: Procedure, rng: random.Random) -> list[SeriesSpec]:
    out = [SeriesSpec("MR", "MR-LOC", "localizer", 3)]
    seqs = _MR_SEQUENCES.get(p.region, _MR_SEQUENCES["head"])
    for name in seqs[: rng.randint(max(2, len(seqs) - 2), len(seqs))]:
        out.append(SeriesSpec("MR", "MR", name, rng.choice((16, 20, 24))))
    return out


def _us(p: Procedure, rng: random.Random) -> list[SeriesSpec]:
    out = [SeriesSpec("US", "US", p.description.title(), rng.randint(4, 10))]
    if rng.random() < 0.6:
        out.append(SeriesSpec("US", "US-CINE", "Cine loop", rng.randint(1, 2)))
    return out


def _cr(p: Procedure, rng: random.Random) -> list[SeriesSpec]:
    if p.region == "chest":
        views = ["PA", "LAT"] if rng.random() < 0.7 else ["AP"]
    else:
        views = ["AP", "LAT"] if rng.random() < 0.8 else ["AP", "LAT", "OBL"]
    return [SeriesSpec(p.modality, p.modality, f"{p.body_part.title()} {v}", 1) for v in views]


def _mg(p: Procedure, rng: random.Random) -> list[SeriesSpec]:
    return [
        SeriesSpec("MG", "MG", f"{lat}{view}", 1, laterality=lat)
        for lat in ("R", "L")
        for view in ("CC", "MLO")
    ]


def _pt(p: Procedure, rng: random.Random) -> list[SeriesSpec]:
    return [
        SeriesSpec("CT", "CT-SCOUT", "Topogram", 1),
        SeriesSpec("CT", "CT", "CT AC 5.0 mm", 32),
        SeriesSpec("PT", "PT", "PET WB AC", 32),
        SeriesSpec("PT", "PT", "PET WB NAC", 32),
    ][: rng.choice((3, 4))]


def _nm(p: Procedure, rng: random.Random) -> list[SeriesSpec]:
    out = [SeriesSpec("NM", "NM", "WB ANT/POST", 1)]
    if rng.random() < 0.4:
        out.append(SeriesSpec("NM", "NM", "Spot views", 1))
    return out


def _xa(p: Procedure, rng: random.Random) -> list[SeriesSpec]:
    return [SeriesSpec("XA", "XA", f"Run {i}", 1) for i in range(1, rng.randint(3, 7))]


_SERIES = {
    "CT": _ct,
    "MR": _mr,
    "US": _us,
    "CR": _cr,
    "DX": _cr,
    "MG": _mg,
    "PT": _pt,
    "NM": _nm,
    "XA": _xa,
}

PROCEDURES: tuple[Procedure, ...] = (
    # CR / DX
    Procedure("CR", "XR CHEST PA AND LATERAL", "CHEST", 5, region="chest"),
    Procedure("CR", "XR CHEST AP PORTABLE", "CHEST", 2, region="chest"),
    Procedure("CR", "XR KNEE 2 VIEWS", "KNEE", 1, region="extremity"),
    Procedure("CR", "XR HAND 3 VIEWS", "HAND", 1, region="extremity"),
    Procedure("CR", "XR LUMBAR SPINE 2 VIEWS", "LSPINE", 1, min_age=14, region="spine"),
    Procedure("DX", "XR CHEST PA AND LATERAL", "CHEST", 5, region="chest"),
    Procedure("DX", "XR ANKLE 3 VIEWS", "ANKLE", 1, region="extremity"),
    Procedure("DX", "XR SHOULDER 2 VIEWS", "SHOULDER", 1, region="extremity"),
    Procedure("DX", "XR PELVIS AP", "PELVIS", 1, region="pelvis"),
    Procedure("DX", "XR ABDOMEN SUPINE", "ABDOMEN", 1, region="abdomen"),
    # CT
    Procedure("CT", "CT HEAD W/O CONTRAST", "HEAD", 4, region="head"),
    Procedure("CT", "CT CHEST W/ CONTRAST", "CHEST", 2, min_age=10, region="chest"),
    Procedure("CT", "CT CHEST LOW DOSE SCREENING", "CHEST", 1, min_age=50, region="chest"),
    Procedure("CT", "CT ABDOMEN PELVIS W/ CONTRAST", "ABDOMEN", 3, min_age=10, region="abdomen"),
    Procedure("CT", "CT ANGIO CHEST PE PROTOCOL", "CHEST", 1, min_age=16, region="chest"),
    Procedure("CT", "CT SPINE CERVICAL W/O CONTRAST", "CSPINE", 1, region="spine"),
    # MR
    Procedure("MR", "MR BRAIN W/O AND W/ CONTRAST", "BRAIN", 4, region="head"),
    Procedure("MR", "MR LUMBAR SPINE W/O CONTRAST", "LSPINE", 3, min_age=14, region="spine"),
    Procedure("MR", "MR KNEE RIGHT W/O CONTRAST", "KNEE", 2, region="extremity"),
    Procedure("MR", "MR ABDOMEN LIVER PROTOCOL", "ABDOMEN", 1, min_age=16, region="abdomen"),
    Procedure("MR", "MR PROSTATE MULTIPARAMETRIC", "PROSTATE", 1, sex="M", min_age=45, region="pelvis"),
    Procedure("MR", "MR BREAST BILATERAL", "BREAST", 1, sex="F", min_age=30, region="breast"),
    Procedure("MR", "MR HEART FUNCTION", "HEART", 1, min_age=10, region="heart"),
    # US
    Procedure("US", "US ABDOMEN COMPLETE", "ABDOMEN", 4, region="abdomen"),
    Procedure("US", "US PELVIS TRANSABDOMINAL", "PELVIS", 2, sex="F", min_age=12, region="pelvis"),
    Procedure("US", "US OB 2ND TRIMESTER", "ABDOMEN", 1, sex="F", min_age=16, region="abdomen"),
    Procedure("US", "US THYROID", "NECK", 1, region="head"),
    Procedure("US", "ECHO TRANSTHORACIC", "HEART", 2, region="heart"),
    Procedure("US", "US CAROTID DOPPLER BILATERAL", "NECK", 1, min_age=40, region="head"),
    # MG
    Procedure("MG", "MG SCREENING BILATERAL", "BREAST", 4, sex="F", min_age=40, region="breast"),
    Procedure("MG", "MG DIAGNOSTIC BILATERAL", "BREAST", 1, sex="F", min_age=30, region="breast"),
    # PT / NM
    Procedure("PT", "PET/CT FDG SKULL BASE TO THIGH", "WHOLEBODY", 3, min_age=18, region="body"),
    Procedure("PT", "PET/CT PSMA WHOLE BODY", "WHOLEBODY", 1, sex="M", min_age=45, region="body"),
    Procedure("NM", "NM BONE SCAN WHOLE BODY", "WHOLEBODY", 3, min_age=12, region="body"),
    Procedure("NM", "NM THYROID SCAN", "NECK", 1, region="head"),
    # XA
    Procedure("XA", "XA CORONARY ANGIOGRAPHY", "HEART", 4, min_age=30, region="heart"),
    Procedure("XA", "XA CEREBRAL ANGIOGRAPHY", "HEAD", 1, min_age=18, region="head"),
)
