"""Pixel data that looks like what it is, from analytic phantoms; deterministic for a given plan.

- Cross-sectional images (CT, MR, PET) sample one 3-D phantom in patient coordinates (mm) at each pixel's
  position computed from the slice's ImagePositionPatient / ImageOrientationPatient / PixelSpacing, so every
  plane (axial, sagittal, coronal) of a series shows the same anatomy at consistent positions. The phantom is a
  tissue label map: a Shepp-Logan-style head (skull, grey and white matter, ventricles, a lesion) above a torso
  (fat, muscle, lungs, heart, aorta, spine, liver, kidneys, bowel gas). CT maps labels to Hounsfield units,
  MR to T1/T2/PD-like intensities per sequence, PET to FDG-like uptake.
- Projection images (CR, DX, the CT localizer) integrate attenuation; mammograms, ultrasound sectors with
  speckle, nuclear-medicine whole-body scans and angiography runs are drawn from simple analytic models.

Noise comes from ``numpy.random.default_rng`` seeded with (seed, study, series, instance): same plan, same
pixels.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from pacs.synth.header import KINDS, Kind, pixel_spacing, slice_geometry
from pacs.synth.plan import SeriesPlan, StudyPlan

# tissue labels
AIR, FAT, SOFT, MUSCLE, BONE, LUNG, GM, WM, CSF, BLOOD, LIVER, KIDNEY, LESION, GAS, MARROW, TABLE = range(16)

HU = np.array([-1000, -100, 40, 50, 900, -850, 40, 25, 5, 45, 60, 30, 70, -950, 300, 200], dtype=np.float32)
HU_CONTRAST = HU.copy()
HU_CONTRAST[[BLOOD, KIDNEY, LIVER, LESION]] = [220, 180, 110, 40]
# (T1-weighted, T2-weighted, PD) relative intensities, 0..1
MR_T1 = np.array(
    [0, 0.95, 0.45, 0.4, 0.05, 0.02, 0.45, 0.62, 0.12, 0.3, 0.55, 0.42, 0.35, 0, 0.8, 0], np.float32
)
MR_T2 = np.array(
    [0, 0.7, 0.4, 0.3, 0.03, 0.02, 0.55, 0.42, 0.98, 0.2, 0.25, 0.5, 0.85, 0, 0.6, 0], np.float32
)
MR_PD = np.array(
    [0, 0.9, 0.6, 0.5, 0.05, 0.03, 0.72, 0.62, 0.85, 0.4, 0.55, 0.6, 0.75, 0, 0.8, 0], np.float32
)
PET_SUV = np.array([0, 0.4, 1.0, 0.8, 0.6, 0.3, 7.0, 5.0, 0.3, 1.6, 2.2, 3.5, 9.0, 0, 1.2, 0], np.float32)


class _Space:
    """Points in patient coordinates; shapes outside the points' z-range are skipped (axial slices are fast)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> None:
        self.x, self.y, self.z = x, y, z
        self.zmin, self.zmax = float(z.min()), float(z.max())

    def ell(self, c: tuple[float, float, float], r: tuple[float, float, float]) -> np.ndarray | None:
        if c[2] + r[2] < self.zmin or c[2] - r[2] > self.zmax:
            return None
        return ((self.x - c[0]) / r[0]) ** 2 + ((self.y - c[1]) / r[1]) ** 2 + (
            (self.z - c[2]) / r[2]
        ) ** 2 <= 1.0

    def cyl(self, c: tuple[float, float], r: tuple[float, float], z0: float, z1: float) -> np.ndarray | None:
        if z1 < self.zmin or z0 > self.zmax:
            return None
        return (
            (((self.x - c[0]) / r[0]) ** 2 + ((self.y - c[1]) / r[1]) ** 2 <= 1.0)
            & (self.z >= z0)
            & (self.z <= z1)
        )


def _paint(lab: np.ndarray, mask: np.ndarray | None, label: int) -> None:
    if mask is not None:
        lab[mask] = label


#: Head centre (mm, patient coordinates, LPS: +x left, +y posterior, +z head).
HEAD_Z = 40.0


def phantom(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Tissue labels at patient coordinates (mm): head (centre z = 40), neck, torso (z -75 to -700), legs."""
    s = _Space(x, y, z)
    lab = np.full(x.shape, AIR, dtype=np.uint8)
    lab[(y > 125) & (y < 140) & (np.abs(x) < 230)] = TABLE  # table under the patient (posterior, +y)
    hz = HEAD_Z
    # head: a 3-D Shepp-Logan arrangement (scalp, skull, diploe, CSF, grey and white matter, ventricles, lesion)
    for c, r, label in (
        ((0, 0, hz), (78, 98, 112), SOFT),
        ((0, 0, hz), (74, 94, 108), BONE),
        ((0, 0, hz), (68, 88, 101), MARROW),
        ((0, 0, hz), (66, 86, 99), CSF),
        ((0, 2, hz + 2), (63, 83, 95), GM),
        ((0, 4, hz + 8), (50, 68, 78), WM),
        ((-11, -2, hz + 10), (7, 26, 16), CSF),
        ((11, -2, hz + 10), (7, 26, 16), CSF),
        ((0, 12, hz - 4), (3, 8, 8), CSF),
        ((-24, -38, hz + 28), (9, 9, 9), LESION),
        ((0, 30, hz - 40), (26, 22, 24), GM),
    ):
        _paint(lab, s.ell(c, r), label)
    # neck
    _paint(lab, s.cyl((0, 10), (55, 60), -75, hz - 60), MUSCLE)
    _paint(lab, s.cyl((0, 32), (9, 9), -75, hz - 60), BONE)
    _paint(lab, s.cyl((0, -20), (8, 8), -75, hz - 70), GAS)
    # torso
    tz0, tz1 = -700.0, -75.0
    _paint(lab, s.cyl((0, 0), (175, 115), tz0, tz1), FAT)
    _paint(lab, s.cyl((0, 0), (163, 103), tz0, tz1), MUSCLE)
    _paint(lab, s.cyl((0, 5), (150, 92), tz0, tz1 - 10), SOFT)
    chest0, chest1 = -330.0, -90.0
    outer = s.cyl((0, 0), (158, 99), chest0, chest1)
    if outer is not None:  # ribs: rings of bone at regular z intervals
        inner = s.cyl((0, 0), (150, 92), chest0, chest1)
        assert inner is not None
        lab[outer & ~inner & (np.mod(z - chest0, 24.0) < 9.0)] = BONE
    for c, r, label in (
        ((-70, 0, -200), (62, 80, 140), LUNG),  # right lung (patient right = -x)
        ((72, 0, -200), (58, 80, 135), LUNG),
        ((22, -18, -235), (58, 48, 55), BLOOD),  # heart
        ((26, -20, -235), (30, 24, 30), MUSCLE),  # myocardium
        ((-70, -10, -340), (85, 75, 75), LIVER),
        ((-60, -30, -330), (12, 12, 12), LESION),
        ((80, 0, -330), (45, 55, 45), SOFT),  # spleen / stomach
        ((70, -25, -320), (25, 25, 20), GAS),
        ((-70, 45, -400), (26, 20, 55), KIDNEY),
        ((70, 45, -400), (26, 20, 55), KIDNEY),
        ((-40, -50, -470), (16, 14, 18), GAS),  # bowel gas
        ((45, -55, -495), (16, 14, 18), GAS),
        ((0, -70, -520), (16, 14, 18), GAS),
        ((0, -40, -640), (40, 35, 35), CSF),  # bladder
        ((-95, 20, -580), (45, 25, 60), BONE),  # iliac wings
        ((95, 20, -580), (45, 25, 60), BONE),
        ((-95, 20, -580), (38, 18, 52), MARROW),
        ((95, 20, -580), (38, 18, 52), MARROW),
        ((-90, 0, -665), (24, 24, 24), BONE),  # femoral heads
        ((90, 0, -665), (24, 24, 24), BONE),
    ):
        _paint(lab, s.ell(c, r), label)
    _paint(lab, s.cyl((18, 30), (13, 13), -560, -150), BLOOD)  # descending aorta
    _paint(lab, s.cyl((-35, -30), (10, 10), -560, -150), BLOOD)  # vena cava
    # spine: vertebral bodies separated by discs, canal, spinous processes
    spine = s.cyl((0, 55), (20, 17), tz0 + 80, tz1)
    if spine is not None:
        disc = np.mod(z, 32.0) < 6.0
        lab[spine & ~disc] = BONE
        lab[spine & disc] = SOFT
        marrow = s.cyl((0, 55), (14, 11), tz0 + 80, tz1)
        assert marrow is not None
        lab[marrow & ~disc] = MARROW
        _paint(lab, s.cyl((0, 82), (7, 7), tz0 + 80, tz1), CSF)
        proc = s.cyl((0, 92), (9, 14), tz0 + 80, tz1)
        assert proc is not None
        lab[proc & ~disc] = BONE
    # legs: thigh, femur, knee joint, patella
    for sx in (-90.0, 90.0):
        _paint(lab, s.cyl((sx, 0), (68, 68), -1150, -690), FAT)
        _paint(lab, s.cyl((sx, 0), (60, 60), -1150, -690), MUSCLE)
        _paint(lab, s.cyl((sx, 5), (15, 15), -1150, -660), BONE)
        _paint(lab, s.cyl((sx, 5), (9, 9), -1150, -660), MARROW)
        _paint(lab, s.cyl((sx, 5), (30, 26), -956, -944), SOFT)  # knee joint space
        _paint(lab, s.ell((sx, -48, -935), (18, 8, 22)), BONE)  # patella
    return lab


def _rng(study: StudyPlan, series: SeriesPlan, n: int) -> np.random.Generator:
    return np.random.default_rng([study.seed, study.index + 1, series.number, n])


def _plane_coords(series: SeriesPlan, n: int, kind: Kind) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ipp, iop, _ = slice_geometry(series, n)
    ps = pixel_spacing(kind)
    r = np.arange(kind.rows, dtype=np.float32)[:, None] * ps
    c = np.arange(kind.columns, dtype=np.float32)[None, :] * ps
    row, col = iop[:3], iop[3:]
    x = ipp[0] + c * row[0] + r * col[0]
    y = ipp[1] + c * row[1] + r * col[1]
    z = ipp[2] + c * row[2] + r * col[2]
    return (
        np.broadcast_to(x, (kind.rows, kind.columns)),
        np.broadcast_to(y, (kind.rows, kind.columns)),
        np.broadcast_to(z, (kind.rows, kind.columns)),
    )


@lru_cache(maxsize=1024)
def _plane_labels(
    rows: int, cols: int, ps: float, ipp: tuple[float, ...], iop: tuple[float, ...]
) -> np.ndarray:
    """The phantom's labels on one image plane (cached: the anatomy is the same for every synthetic patient)."""
    r = np.arange(rows, dtype=np.float32)[:, None] * ps
    c = np.arange(cols, dtype=np.float32)[None, :] * ps
    coords = [np.broadcast_to(ipp[i] + c * iop[i] + r * iop[3 + i], (rows, cols)) for i in range(3)]
    lab = phantom(*coords)
    lab.setflags(write=False)
    return lab


def _labels(series: SeriesPlan, n: int, kind: Kind) -> np.ndarray:
    ipp, iop, _ = slice_geometry(series, n)
    return _plane_labels(kind.rows, kind.columns, pixel_spacing(kind), tuple(ipp), tuple(iop))


def _smooth(a: np.ndarray, k: int) -> np.ndarray:
    """Box blur (separable, edge-padded) of width ``2k+1``: partial volume and PSF."""
    if k <= 0:
        return a
    out = a.astype(np.float32)
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (k + 1, k)
        p = np.pad(out, pad, mode="edge")
        cs = np.cumsum(p, axis=axis, dtype=np.float64)
        if axis == 0:
            out = ((cs[2 * k + 1 :] - cs[: -2 * k - 1]) / (2 * k + 1)).astype(np.float32)
        else:
            out = ((cs[:, 2 * k + 1 :] - cs[:, : -2 * k - 1]) / (2 * k + 1)).astype(np.float32)
    return out


def _ct(study: StudyPlan, series: SeriesPlan, n: int, kind: Kind, rng: np.random.Generator) -> np.ndarray:
    if series.kind == "CT-SCOUT":
        return _ct_scout(study, series, n, kind, rng)
    lab = _labels(series, n, kind)
    desc = study.description
    contrast = "W/ CONTRAST" in desc or "ANGIO" in desc or "Venous" in series.description
    hu = (HU_CONTRAST if contrast else HU)[lab]
    noise = 5.0 if series.body_part in ("HEAD", "BRAIN") else 12.0
    hu = _smooth(hu, 1) + rng.normal(0, noise, hu.shape).astype(np.float32)
    return np.clip(np.rint(hu + 1024), -1024, 3071 + 1024).astype(np.int16)


@lru_cache(maxsize=64)
def _coronal_projection(
    rows: int, cols: int, width_mm: float, height_mm: float, z_top: float, depth: int = 40
) -> np.ndarray:
    """Line integrals of attenuation through the phantom along y (AP), on a coronal grid (rows = -z)."""
    xs = np.linspace(-width_mm / 2, width_mm / 2, cols, dtype=np.float32)
    zs = np.linspace(z_top, z_top - height_mm, rows, dtype=np.float32)
    z2, x2 = np.meshgrid(zs, xs, indexing="ij")
    step = 260.0 / depth
    out = np.zeros((rows, cols), np.float32)
    for y in np.linspace(-130, 130, depth, dtype=np.float32):  # one coronal plane at a time
        lab = phantom(x2, np.full_like(x2, y), z2)
        out += np.clip((HU[lab] + 1000) / 1000, 0, None) * 0.02 * step  # water: 0.02 / mm
    out.setflags(write=False)  # cached: shared by every radiograph of this body part
    return out


def _ct_scout(
    study: StudyPlan, series: SeriesPlan, n: int, kind: Kind, rng: np.random.Generator
) -> np.ndarray:
    z_top = {"HEAD": 180.0, "CSPINE": 120.0, "CHEST": -40.0}.get(series.body_part, -150.0)
    small = _coronal_projection(kind.rows // 2, kind.columns // 2, kind.fov_mm, kind.fov_mm, z_top, depth=20)
    proj = _smooth(np.kron(small, np.ones((2, 2), np.float32)), 1)
    img = proj / max(float(proj.max()), 1e-6) * 2500 - 1000 + rng.normal(0, 8, proj.shape)
    return np.clip(np.rint(img + 1024), 0, 4095).astype(np.int16)


_MR_WEIGHT = {"t1": MR_T1, "t2": MR_T2, "pd": MR_PD, "flair": MR_T1, "stir": MR_T2, "ep2d": MR_T2}


def _mr(study: StudyPlan, series: SeriesPlan, n: int, kind: Kind, rng: np.random.Generator) -> np.ndarray:
    lab = _labels(series, n, kind)
    name = series.description.lower()
    table = next((w for k, w in _MR_WEIGHT.items() if name.startswith(k)), MR_T1)
    vals = table[lab].copy()
    if name.startswith("flair"):
        vals[lab == CSF] = 0.05  # fluid suppressed
        vals[lab == LESION] = 0.95
    if name.startswith("stir") or "fs" in name:
        vals[lab == FAT] = 0.08
    vals = _smooth(vals, 1)
    rows, cols = vals.shape
    yy, xx = np.mgrid[:rows, :cols].astype(np.float32)
    bias = 0.85 + 0.3 * np.exp(-(((xx - cols * 0.4) / cols) ** 2 + ((yy - rows * 0.45) / rows) ** 2) * 2)
    noise_r = rng.normal(0, 0.025, vals.shape)
    noise_i = rng.normal(0, 0.025, vals.shape)
    mag = np.sqrt((vals * bias + noise_r) ** 2 + noise_i**2)  # Rician noise, like a magnitude image
    return np.clip(np.rint(mag * 1400), 0, 4095).astype(np.uint16)


def _pt(study: StudyPlan, series: SeriesPlan, n: int, kind: Kind, rng: np.random.Generator) -> np.ndarray:
    lab = _labels(series, n, kind)
    suv = PET_SUV[lab].copy()
    suv[(lab == CSF) & (_plane_coords(series, n, kind)[2] < -600)] = 25.0  # bladder
    act = _smooth(suv, 2)
    counts = rng.poisson(np.clip(act, 0, None) * 40).astype(np.float32) / 40
    if "NAC" in series.description:
        counts *= 0.6
    return np.clip(np.rint(counts * 1500), 0, 65535).astype(np.uint16)  # RescaleSlope 2 -> Bq/ml-like


def _radiograph(study: StudyPlan, series: SeriesPlan, kind: Kind, rng: np.random.Generator) -> np.ndarray:
    rows, cols = kind.rows, kind.columns
    width = pixel_spacing(kind) * cols
    height = pixel_spacing(kind) * rows
    part = series.body_part
    if part in ("CHEST", "ABDOMEN", "PELVIS", "LSPINE", "KNEE"):
        z_top = {"CHEST": -40.0, "ABDOMEN": -260.0, "PELVIS": -480.0, "LSPINE": -330.0, "KNEE": -780.0}[part]
        # a coarse projection, upsampled: fast and smooth
        small = _coronal_projection(rows // 8, cols // 8, width, height, z_top, depth=28)
        proj = np.kron(small, np.ones((8, 8), np.float32))[:rows, :cols]
        if series.description.endswith(("LAT", "OBL")):
            proj = np.roll(proj, cols // 12, axis=1) * 0.95
    else:
        proj = _extremity(rows, cols, rng)
    proj = _smooth(proj, 6)
    img = proj / max(float(np.percentile(proj, 99.5)), 1e-6)  # more attenuation: brighter (MONOCHROME2)
    img = np.clip(img, 0, 1.2) ** 1.6
    img = img * 3000 + 200 + rng.normal(0, 20, img.shape)
    return np.clip(np.rint(img), 0, 4095).astype(np.uint16)


def _extremity(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[:rows, :cols].astype(np.float32)
    cx = cols / 2 + 0.05 * cols * np.sin(yy / rows * 3.0)
    soft = np.clip(1 - ((xx - cx) / (cols * 0.3)) ** 2, 0, None) * 1.2
    out = soft.copy()
    for offset, w in ((-0.07, 0.055), (0.08, 0.035)):  # two long bones with cortex and medulla
        d = np.abs(xx - cx - offset * cols)
        shaft = (d < w * cols).astype(np.float32)
        medulla = (d < w * cols * 0.55).astype(np.float32)
        out += shaft * 2.2 - medulla * 1.3
    joint = np.exp(-(((yy - rows * 0.5) / (rows * 0.02)) ** 2))  # joint space
    out -= joint * 1.5 * (np.abs(xx - cx) < cols * 0.15)
    return np.clip(out, 0, None)


def _mg(study: StudyPlan, series: SeriesPlan, n: int, kind: Kind, rng: np.random.Generator) -> np.ndarray:
    rows, cols = kind.rows, kind.columns
    yy, xx = np.mgrid[:rows, :cols].astype(np.float32)
    # chest wall on the left of the image for a right breast, on the right for a left breast
    u = xx / cols if series.laterality == "R" else 1 - xx / cols
    v = (yy - rows / 2) / (rows / 2)
    breast = (u / 0.85) ** 2 + v**2 * 1.05 <= 1.0
    thickness = np.sqrt(np.clip(1 - (u / 0.85) ** 2 - v**2 * 1.05, 0, None))
    tex = rng.normal(0, 1, (rows // 8, cols // 8)).astype(np.float32)
    tex = _smooth(np.kron(tex, np.ones((8, 8), np.float32))[:rows, :cols], 6)
    gland = np.clip(tex * 1.8 + 0.6 - u * 0.9, 0, None) * thickness
    img = (0.35 * thickness + 0.6 * gland) * breast
    if series.description.endswith("MLO"):  # pectoral muscle: a triangle at the chest wall, top
        pect = (u < 0.3 - (yy / rows) * 0.5) & breast
        img = np.where(pect, np.maximum(img, 0.9), img)
    for cx, cy in rng.uniform(0.2, 0.7, (5, 2)):  # microcalcifications
        d2 = (u - cx * 0.8) ** 2 * cols**2 + ((yy / rows) - cy) ** 2 * rows**2
        img += np.exp(-d2 / 3.0) * 1.2 * breast
    img = img * 2800 + 150 + rng.normal(0, 12, img.shape) * breast
    return np.clip(np.rint(img), 0, 4095).astype(np.uint16)


def _us_frame(kind: Kind, rng: np.random.Generator, phase: float, cardiac: bool) -> np.ndarray:
    rows, cols = kind.rows, kind.columns
    yy, xx = np.mgrid[:rows, :cols].astype(np.float32)
    apex_y, apex_x = -rows * 0.05, cols / 2
    r = np.hypot(yy - apex_y, xx - apex_x) / rows  # depth, 0..~1
    theta = np.arctan2(xx - apex_x, yy - apex_y)
    sector = (np.abs(theta) < np.radians(37)) & (r > 0.08) & (r < 1.0)
    # echogenicity map: parenchyma with vessels / chambers and a cyst
    echo = np.full((rows, cols), 0.55, np.float32)
    echo *= 0.8 + 0.2 * np.sin(theta * 9) ** 2
    if cardiac:
        rad = 0.14 + 0.03 * np.sin(2 * np.pi * phase)
        echo[np.hypot((r - 0.5) * 1.2, theta * 0.55) < rad] = 0.05  # left ventricle, beating
        echo[np.hypot((r - 0.45) * 1.3, (theta + 0.45) * 0.6) < rad * 0.7] = 0.06
    else:
        echo[np.hypot((r - 0.62) * 1.0, (theta - 0.18) * 0.6) < 0.07] = 0.02  # cyst (anechoic)
        for k in range(3):
            echo[np.abs(r - 0.35 - 0.12 * k - 0.01 * np.sin(theta * 6)) < 0.012] = 0.08  # vessels
        echo[np.abs(r - 0.9) < 0.02] = 1.0  # bright interface (diaphragm)
    speckle = rng.rayleigh(0.55, (rows, cols)).astype(np.float32)
    tgc = np.exp(-r * 0.6)
    img = echo * speckle * tgc * sector
    img = _smooth(img, 1)
    img = np.log1p(img * 20) / np.log1p(20) * 255
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _us(study: StudyPlan, series: SeriesPlan, n: int, kind: Kind, rng: np.random.Generator) -> np.ndarray:
    cardiac = series.body_part == "HEART"
    if kind.frames:
        return np.stack([_us_frame(kind, rng, f / kind.frames, cardiac) for f in range(kind.frames)])
    return _us_frame(kind, rng, n / 7.0, cardiac)


def _nm(study: StudyPlan, series: SeriesPlan, n: int, kind: Kind, rng: np.random.Generator) -> np.ndarray:
    rows, cols = kind.rows, kind.columns
    yy, xx = np.mgrid[:rows, :cols].astype(np.float32)
    cx = cols / 2
    act = np.zeros((rows, cols), np.float32)
    body = (
        (np.hypot((xx - cx) / 13, (yy - 28) / 16) < 1)  # head
        | ((np.abs(xx - cx) < 24) & (yy > 40) & (yy < 260))  # torso
        | ((np.abs(np.abs(xx - cx) - 33) < 5) & (yy > 55) & (yy < 250))  # arms
        | ((np.abs(np.abs(xx - cx) - 10) < 8) & (yy > 255) & (yy < 500))  # legs
    )
    act[body] = 0.25
    skull = np.abs(np.hypot((xx - cx) / 13, (yy - 28) / 16) - 0.9) < 0.12
    spine = (np.abs(xx - cx) < 2.5) & (yy > 45) & (yy < 250)
    ribs = (np.abs(xx - cx) < 22) & (yy > 60) & (yy < 140) & (np.mod(yy, 11) < 2.5)
    pelvis = np.abs(np.hypot((xx - cx) / 22, (yy - 240) / 14) - 0.85) < 0.2
    femurs = (np.abs(np.abs(xx - cx) - 10) < 2.5) & (yy > 255) & (yy < 380)
    for mask, v in ((skull, 1.6), (spine, 2.0), (ribs, 1.2), (pelvis, 2.2), (femurs, 1.3)):
        act[mask] = v
    act[np.hypot((xx - cx - 9) / 3, (yy - 180) / 6) < 1] = 2.5  # kidneys
    act[np.hypot((xx - cx + 9) / 3, (yy - 180) / 6) < 1] = 2.5
    act[np.hypot((xx - cx) / 6, (yy - 255) / 5) < 1] = 5.0  # bladder
    act[np.hypot((xx - cx - 12) / 2.5, (yy - 100) / 2.5) < 1] = 4.0  # a hot spot (metastasis)
    frames = []
    for f in range(kind.frames):
        a = act if f == 0 else act[:, ::-1]  # posterior view is mirrored
        frames.append(rng.poisson(_smooth(a, 1) * 60).astype(np.float32))
    return np.clip(np.stack(frames), 0, 65535).astype(np.uint16)


def _vessel_tree(rng: np.random.Generator, rows: int, cols: int) -> list[tuple[float, float, float, float]]:
    """Points (x, y, radius, arrival 0..1) along a branching vessel tree (a coronary-like trunk and branches)."""
    points: list[tuple[float, float, float, float]] = []
    t = np.linspace(0.0, 1.0, 160)
    x0, y0, start = cols * 0.25, rows * 0.08, 0.0
    for b in range(6):
        bend = rng.uniform(-0.25, 0.25)
        length = rng.uniform(0.5, 0.85) if b else 0.9
        px = x0 + cols * length * (0.55 * t + bend * np.sin(t * np.pi))
        py = y0 + rows * length * (0.9 - 0.1 * b) * t
        radius = np.linspace(5.5 - 0.6 * b, 1.5, len(t))
        arrival = start + (1 - start) * t * 0.8
        points += list(zip(px.tolist(), py.tolist(), radius.tolist(), arrival.tolist(), strict=True))
        k = int(rng.integers(20, 90))  # the next branch leaves the trunk here
        x0, y0, start = float(px[k]), float(py[k]), float(arrival[k])
    return points


def _xa(study: StudyPlan, series: SeriesPlan, n: int, kind: Kind, rng: np.random.Generator) -> np.ndarray:
    rows, cols = kind.rows, kind.columns
    yy, xx = np.mgrid[:rows, :cols].astype(np.float32)
    background = 175 + 35 * np.sin(xx / cols * 3 + series.number) * np.cos(yy / rows * 2)
    background -= 40 * np.exp(
        -(((xx - cols * 0.55) / (cols * 0.25)) ** 2 + ((yy - rows * 0.6) / (rows * 0.3)) ** 2)
    )
    tree = _vessel_tree(np.random.default_rng([study.seed, study.index + 1, series.number]), rows, cols)
    frames = []
    opacity = np.zeros((rows, cols), np.float32)
    drawn = 0
    tree.sort(key=lambda p: p[3])
    for f in range(kind.frames):
        fill = min(1.0, (f + 1) / (kind.frames * 0.6))  # the contrast bolus arrives and fills the tree
        while drawn < len(tree) and tree[drawn][3] <= fill:
            px, py, rad, _ = tree[drawn]
            drawn += 1
            r0, r1 = max(0, int(py - rad - 1)), min(rows, int(py + rad + 2))
            c0, c1 = max(0, int(px - rad - 1)), min(cols, int(px + rad + 2))
            if r0 >= r1 or c0 >= c1:
                continue
            d2 = (xx[r0:r1, c0:c1] - px) ** 2 + (yy[r0:r1, c0:c1] - py) ** 2
            disc = np.clip(1 - d2 / (rad * rad), 0, None) ** 0.5  # cylinder-like profile
            opacity[r0:r1, c0:c1] = np.maximum(opacity[r0:r1, c0:c1], disc)
        img = background * (1 - 0.65 * _smooth(opacity, 1)) + rng.normal(0, 4, (rows, cols))
        frames.append(np.clip(np.rint(img), 0, 255).astype(np.uint8))
    return np.stack(frames)


def _cr(study: StudyPlan, series: SeriesPlan, n: int, kind: Kind, rng: np.random.Generator) -> np.ndarray:
    return _radiograph(study, series, kind, rng)


_BUILDERS = {
    "CT": _ct,
    "MR": _mr,
    "PT": _pt,
    "CR": _cr,
    "DX": _cr,
    "MG": _mg,
    "US": _us,
    "NM": _nm,
    "XA": _xa,
}


def pixels_for(study: StudyPlan, series: SeriesPlan, instance_number: int) -> np.ndarray:
    """The pixel array of one planned instance: (rows, cols) or (frames, rows, cols), dtype per the kind."""
    kind = KINDS[series.kind]
    arr = _BUILDERS[series.kind.split("-")[0]](
        study, series, instance_number, kind, _rng(study, series, instance_number)
    )
    expected = (kind.frames, kind.rows, kind.columns) if kind.frames else (kind.rows, kind.columns)
    if arr.shape != expected:  # pragma: no cover - a programming error
        raise AssertionError(f"{series.kind}: pixel array {arr.shape} != {expected}")
    return arr
