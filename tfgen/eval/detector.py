"""The world detector: a small CenterNet-style CNN that finds storyworld objects in 128x128 images.

Conventions: images are (B, 3, H, W) float in [0, 1] (or PIL / uint8 arrays through `detect`);
boxes are pixels of the input image, [x0, y0, x1, y1], origin top-left, y down. The network
averages the input down to `internal_size` (the shipped detector keeps all 128 px) and predicts, on
a `grid` x `grid` map (stride 4 of the internal image), one heatmap per class (a peak at each
object's centre), the box size, the centre's sub-cell offset, the object's colour among GenEval's
ten, and for characters the accessory kind and its colour.
Trained only on storyworld renders (tfgen.eval.detector_train); weights ship in
tfgen/assets/detector/ as safetensors plus a JSON config.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tfgen.errors import TfgenError
from tfgen.resources import assets_dir
from tfgen.world.cast import ACCESSORIES, all_things
from tfgen.world.colours import COLOUR_NAMES

DETECTOR_FORMAT = "tfgen.detector/1"
WEIGHTS_FILE, CONFIG_FILE = "detector.safetensors", "detector.json"
NO_ACCESSORY = "none"


def default_detector_dir() -> Path:
    return assets_dir() / "detector"


@dataclass(frozen=True)
class DetectorConfig:
    """Sizes and vocabularies; `widths` are the channels of the stem and the three downsampling stages.

    With `stem_stride` 1 they sit at strides 1, 2, 4, 8 of the internal image and the heads read stride 4;
    with 2 (a full-resolution internal image read by a strided stem) at 2, 4, 8, 16, and one more
    top-down step brings the heads back to stride 4: the same cost per input pixel beyond the stem, a
    grid twice as fine (overlapping instances get their own peaks) and no averaging away of thin detail.
    """

    classes: tuple[str, ...] = field(default_factory=lambda: tuple(sorted(all_things())))
    colours: tuple[str, ...] = COLOUR_NAMES
    accessories: tuple[str, ...] = (NO_ACCESSORY,) + ACCESSORIES
    image_size: int = 128
    internal_size: int = 128  # the shipped shape: full resolution through a strided stem, a 32 x 32 grid
    widths: tuple[int, int, int, int] = (24, 48, 96, 128)
    stem_stride: int = 2
    score_threshold: float = 0.3
    max_detections: int = 16
    # of two detections whose boxes overlap by this IoU or more, the surer stays: two classes guessed
    # for one object (suppress_iou), or one object found twice (suppress_iou_same_class, higher where
    # crowds of one class overlap); chosen on training renders by accuracy.calibrate_suppression
    suppress_iou: float = 0.7
    suppress_iou_same_class: float = 0.7
    # recolourable classes whose colour still comes from the head: the pixel reader misreads them on
    # training renders (a fill too thin to sample at 128 px); chosen by accuracy.calibrate_colour_classes
    head_colour_classes: tuple[str, ...] = ()
    # when the pixel reader's runner-up has at least this share of its winner's votes, the colour head
    # chooses between the two (a VAE pales small fills: a pink bus splits pink/white); above 1: never.
    # Chosen on training-distribution renders by accuracy.calibrate_colour_split
    colour_split: float = 1.01
    # > 0: the weights carry a fitted colour-name map of this many bins per channel (tfgen.eval.colour_map),
    # which the colour reader uses instead of the nearest swatch
    colour_map_bins: int = 0

    @property
    def grid(self) -> int:
        return self.internal_size // 4

    @property
    def cell(self) -> float:
        """A grid cell's side in input pixels."""
        return self.image_size / self.grid

    @property
    def head_channels(self) -> int:
        return len(self.classes) + 4 + len(self.colours) + len(self.accessories) + len(self.colours)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> "DetectorConfig":
        if not isinstance(data, dict):
            raise TfgenError("detector config must be a JSON object", where=where)
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TfgenError(f"unknown detector config keys: {', '.join(unknown)}", where=where)
        data = {"stem_stride": 1} | data  # written before the key existed: a stride-1 stem
        try:
            return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
        except TypeError as exc:
            raise TfgenError(f"bad detector config ({exc})", where=where) from None


@dataclass
class Detection:
    """One found object; `box` in input pixels [x0, y0, x1, y1]."""

    cls: str
    score: float
    box: tuple[float, float, float, float]
    colour: str
    colour_probs: dict[str, float]
    accessory: str  # "none", "hat" or "cap"
    accessory_colour: str  # meaningful only when accessory != "none"

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2)

    def to_dict(self) -> dict[str, Any]:
        d = {"class": self.cls, "score": round(self.score, 4), "box": [round(v, 1) for v in self.box],
             "colour": self.colour}
        if self.accessory != NO_ACCESSORY:
            d["accessory"] = f"{self.accessory_colour} {self.accessory}"
        return d


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class WorldDetector(nn.Module):
    """Encoder down to the coarsest stage (context), skips back up to stride 4, then 1x1 heads."""

    def __init__(self, cfg: DetectorConfig):
        super().__init__()
        if cfg.stem_stride not in (1, 2) or cfg.internal_size % (8 * cfg.stem_stride):
            raise TfgenError(f"unsupported detector shape: stem_stride {cfg.stem_stride}, internal_size {cfg.internal_size}")
        _check_colour_map_bins(cfg.colour_map_bins)
        self.cfg = cfg
        w1, w2, w4, w8 = cfg.widths
        self.stem = _conv(3, w1, cfg.stem_stride)
        self.down2 = _conv(w1, w2, 2)
        self.down4 = nn.Sequential(_conv(w2, w4, 2), _conv(w4, w4))
        self.down8 = nn.Sequential(_conv(w4, w8, 2), _conv(w8, w8), _conv(w8, w8))
        self.lateral = nn.Conv2d(w8, w4, 1)
        self.fuse = _conv(w4, w4)
        head_in = w4
        if cfg.stem_stride == 2:  # one more step up, to down2's map (stride 4)
            self.lateral_fine = nn.Conv2d(w4, w2, 1)
            self.fuse_fine = _conv(w2, w2)
            head_in = w2
        self.head = nn.Conv2d(head_in, cfg.head_channels, 1)
        n = len(cfg.classes)
        with torch.no_grad():  # start the heatmap near "nothing here" (CenterNet's prior)
            self.head.bias[:n].fill_(-4.0)
        if cfg.colour_map_bins:
            b = cfg.colour_map_bins
            self.register_buffer("colour_map", torch.zeros(b, b, b, dtype=torch.uint8))

    def set_colour_map(self, table: np.ndarray) -> None:
        """Carry `table` ((B, B, B) uint8, tfgen.eval.colour_map) with the weights; the config records B."""
        if table.ndim != 3 or len(set(table.shape)) != 1:
            raise TfgenError(f"a colour map is a (B, B, B) table (got shape {table.shape})")
        _check_colour_map_bins(table.shape[0])
        self.cfg = replace(self.cfg, colour_map_bins=table.shape[0])
        self.register_buffer("colour_map", torch.from_numpy(np.ascontiguousarray(table, dtype=np.uint8)))

    def encode(self, images: torch.Tensor) -> list[torch.Tensor]:
        """images (B, 3, H, W) in [0, 1] -> the down2, down4 and down8 maps (finest first)."""
        size = self.cfg.internal_size
        if images.shape[-1] != size:
            images = F.interpolate(images, size=(size, size), mode="area")
        s2 = self.down2(self.stem((images - 0.5) / 0.25))
        s4 = self.down4(s2)
        return [s2, s4, self.down8(s4)]

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """images (B, 3, H, W) in [0, 1] -> raw head maps, each (B, K, G, G)."""
        s2, s4, s8 = self.encode(images)
        x = self.fuse(s4 + F.interpolate(self.lateral(s8), scale_factor=2.0, mode="nearest"))
        if self.cfg.stem_stride == 2:
            x = self.fuse_fine(s2 + F.interpolate(self.lateral_fine(x), scale_factor=2.0, mode="nearest"))
        return split_heads(self.head(x), self.cfg)


def _check_colour_map_bins(bins: int) -> None:
    """The colour reader indexes its map by the top bits of each channel: 0 (no map) or a power of two."""
    if bins and (bins & (bins - 1) or not 2 <= bins <= 256):
        raise TfgenError(f"colour_map_bins must be 0 or a power of two from 2 to 256 (got {bins})")


def split_heads(out: torch.Tensor, cfg: DetectorConfig) -> dict[str, torch.Tensor]:
    """(B, head_channels, G, G) -> named maps: heat, size, offset, colour, acc_kind, acc_colour."""
    n, k, a = len(cfg.classes), len(cfg.colours), len(cfg.accessories)
    parts = torch.split(out, [n, 2, 2, k, a, k], dim=1)
    return dict(zip(("heat", "size", "offset", "colour", "acc_kind", "acc_colour"), parts))


def to_batch(images: Sequence[Any], size: int) -> torch.Tensor:
    """PIL images or (H, W, 3) uint8 arrays -> (B, 3, size, size) float in [0, 1]."""
    from PIL import Image

    arrays = []
    for i, img in enumerate(images):
        if isinstance(img, Image.Image):
            img = img.convert("RGB")
            if img.size != (size, size):
                img = img.resize((size, size), Image.BILINEAR)
            arr = np.asarray(img)
        else:
            arr = np.asarray(img)
            if arr.shape != (size, size, 3):
                raise TfgenError(f"expected a ({size}, {size}, 3) image, got {arr.shape}", where=f"image {i}")
        arrays.append(arr)
    batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)
    return batch.float().div_(255.0)


@torch.no_grad()
def find_peaks(logits: torch.Tensor, threshold: float, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each image's k best 3x3 local maxima of sigmoid(logits) scoring above `threshold`.

    logits: (B, N, G, G). Returns (image (M,), score (M,), flat index into N*G*G (M,)), grouped by image
    and highest score first within each. The same peaks as max-pooling the sigmoid of every map, but
    only the few cells that clear the threshold are tested (at a 32 x 32 grid, pooling all 133 maps
    cost more than the network).
    """
    b, _, g, _ = logits.shape
    t = min(max(threshold, 1e-6), 1 - 1e-6)
    loose = math.log(t / (1 - t)) - 0.05  # a margin for bf16 rounding; the exact test is on the sigmoid below
    cb, cy, cx = (logits.amax(dim=1) > loose).nonzero(as_tuple=True)  # cells where some class may peak
    near, ci = (logits[cb, :, cy, cx] > loose).nonzero(as_tuple=True)  # comparing all maps costs 3x more
    bi, yi, xi = cb[near], cy[near], cx[near]
    score = torch.sigmoid(logits[bi, ci, yi, xi].float())
    step = torch.arange(-1, 2)
    ny = (yi[:, None, None] + step[None, :, None]).clamp(0, g - 1)  # (M, 3, 1); a clamped row is still in
    nx = (xi[:, None, None] + step[None, None, :]).clamp(0, g - 1)  # (M, 1, 3); the window, so max is kept
    around = logits[bi[:, None, None], ci[:, None, None], ny, nx].float().flatten(1)  # (M, 9)
    keep = (score > threshold) & (score >= torch.sigmoid(around).amax(dim=1))
    bi, score, flat = bi[keep], score[keep], (ci * g * g + yi * g + xi)[keep]
    order = torch.sort(flat, stable=True).indices  # ties in score: the lower index first
    order = order[torch.sort(score[order], descending=True, stable=True).indices]
    order = order[torch.sort(bi[order], stable=True).indices]  # by image, best first within each
    bi, score, flat = bi[order], score[order], flat[order]
    counts = torch.bincount(bi, minlength=b)
    rank = torch.arange(len(bi)) - (torch.cumsum(counts, 0) - counts)[bi]
    best = rank < k
    return bi[best], score[best], flat[best]


def decode(maps: dict[str, torch.Tensor], cfg: DetectorConfig, threshold: float | None = None,
           suppress_iou: tuple[float, float] | None = None) -> list[list[Detection]]:
    """Peaks of the class heatmaps (3x3 local maxima above threshold) -> detections per image.

    `suppress_iou` (other classes, same class) overrides the config's pair.
    """
    threshold = cfg.score_threshold if threshold is None else threshold
    ious = (cfg.suppress_iou, cfg.suppress_iou_same_class) if suppress_iou is None else suppress_iou
    b, _, g, _ = maps["heat"].shape
    image, scores, index = find_peaks(maps["heat"], threshold, cfg.max_detections * 2)  # (M,) each
    cls_i, ys, xs = index // (g * g), (index % (g * g)) // g, index % g

    def at(name: str) -> torch.Tensor:  # (M, channels) of a head map at the peaks
        return maps[name][image, :, ys, xs].float()

    offset, size = at("offset"), at("size").clamp(min=0.0) * cfg.image_size
    colour_p = torch.softmax(at("colour"), dim=-1)
    kind, acc_colour = at("acc_kind").argmax(-1), at("acc_colour").argmax(-1)
    cx, cy = (xs + offset[:, 0]) * cfg.cell, (ys + offset[:, 1]) * cfg.cell
    boxes = torch.stack([cx - size[:, 0] / 2, cy - size[:, 1] / 2, cx + size[:, 0] / 2, cy + size[:, 1] / 2], -1)
    rows = zip(cls_i.tolist(), scores.tolist(), boxes.tolist(), colour_p.tolist(), kind.tolist(), acc_colour.tolist())
    per_image: list[list[Detection]] = [[] for _ in range(b)]
    for i, (c, score, box, probs, k, ac) in zip(image.tolist(), rows):
        per_image[i].append(Detection(cfg.classes[c], score, tuple(box), cfg.colours[int(np.argmax(probs))],
                                      dict(zip(cfg.colours, probs)), cfg.accessories[k], cfg.colours[ac]))
    return [suppress(dets, *ious)[: cfg.max_detections] for dets in per_image]


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def suppress(dets: list[Detection], iou: float = 0.7, same_class_iou: float | None = None) -> list[Detection]:
    """Of two boxes overlapping by IoU >= `iou` (`same_class_iou` when both are one class) keep the surer.

    `dets` must be sorted by score, highest first (as decode makes them).
    """
    same = iou if same_class_iou is None else same_class_iou
    kept: list[Detection] = []
    for d in dets:
        if all(box_iou(d.box, k.box) < (same if k.cls == d.cls else iou) for k in kept):
            kept.append(d)
    return kept


def split_vote(votes: np.ndarray, head_probs: dict[str, float], split: float) -> str:
    """The reader's winner, or of its two leaders the one the head finds likelier when the runner-up has
    at least `split` of the winner's votes. `votes` is (K,) in COLOUR_NAMES order."""
    first, second = (int(i) for i in np.argsort(-votes, kind="stable")[:2])
    if votes[second] > 0 and votes[second] >= split * votes[first]:
        a, b = COLOUR_NAMES[first], COLOUR_NAMES[second]
        return b if head_probs.get(b, 0.0) > head_probs.get(a, 0.0) else a
    return COLOUR_NAMES[first]


class Judge:
    """A loaded detector ready to score images: `judge.detect(images)` -> detections per image."""

    def __init__(self, model: WorldDetector, info: dict[str, Any] | None = None, batch_size: int = 128,
                 bf16: bool = True):
        self.model = model.eval()
        self.cfg = model.cfg
        self.info = info or {}
        self.batch_size = batch_size
        self.bf16 = bf16  # trained under bf16 autocast; about 3x faster than fp32 here (benchmarks/bench_eval.py)
        from tfgen.eval.colour import ColourReader

        lut = model.colour_map.numpy() if model.cfg.colour_map_bins else None
        self.colour_reader: ColourReader | None = ColourReader(lut)  # None: the colour head alone

    def detect(self, images: Sequence[Any], threshold: float | None = None,
               suppress_iou: tuple[float, float] | None = None) -> list[list[Detection]]:
        """Detections per image; `threshold` and `suppress_iou` override the config's (for calibration)."""
        out: list[list[Detection]] = []
        for i in range(0, len(images), self.batch_size):
            batch = to_batch(images[i : i + self.batch_size], self.cfg.image_size)
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                maps = self.model(batch)
            found = decode(maps, self.cfg, threshold, suppress_iou)
            if self.colour_reader is not None:
                pixels = (batch.permute(0, 2, 3, 1) * 255.0).round().to(torch.uint8).numpy()
                for img, dets in zip(pixels, found):
                    self._read_colours(img, dets)
            out += found
        return out

    def _read_colours(self, image: np.ndarray, dets: list[Detection], split: float | None = None) -> None:
        """Recolourable objects (no accessory) get their colour read from the pixels (tfgen.eval.colour);
        where the vote splits (runner-up >= `split` of the winner, default the config's), the head picks of the two."""
        reader, head_only = self.colour_reader, self.cfg.head_colour_classes
        split = self.cfg.colour_split if split is None else split
        assert reader is not None
        names = None
        for d in dets:
            if d.accessory == NO_ACCESSORY and d.cls not in head_only and reader.template(d.cls) is not None:
                names = reader.name_map(image) if names is None else names
                votes = reader.votes(image, d.cls, d.box, names)
                if votes is not None:
                    d.colour = split_vote(votes, d.colour_probs, split)

    @torch.inference_mode()
    def features(self, images: Sequence[Any]) -> np.ndarray:
        """Pooled features of the coarsest stage (N, widths[3]) for Frechet distances."""
        feats = []
        for i in range(0, len(images), self.batch_size):
            x = to_batch(images[i : i + self.batch_size], self.cfg.image_size)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                coarse = self.model.encode(x)[-1]
            feats.append(coarse.float().mean(dim=(2, 3)).double().numpy())
        return np.concatenate(feats) if feats else np.zeros((0, self.cfg.widths[3]))


def save_detector(directory: str | Path, model: WorldDetector, info: dict[str, Any]) -> Path:
    """Weights as safetensors, config + training facts as JSON (both written atomically)."""
    import safetensors.torch

    from tfgen.atomic import write_bytes_atomic, write_text_atomic

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    write_bytes_atomic(directory / WEIGHTS_FILE, safetensors.torch.save(tensors))
    doc = {"format": DETECTOR_FORMAT, "config": model.cfg.to_dict(), "info": info}
    write_text_atomic(directory / CONFIG_FILE, json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return directory


def load_judge(directory: str | Path | None = None) -> Judge:
    """The detector in `directory` (default: the shipped one); a clear error naming a bad file."""
    import safetensors.torch

    directory = Path(directory) if directory is not None else default_detector_dir()
    cfg_path, w_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    try:
        doc = json.loads(cfg_path.read_text())
    except (OSError, ValueError) as exc:
        raise TfgenError(f"cannot read the detector config ({exc})", where=str(cfg_path)) from None
    if not isinstance(doc, dict) or doc.get("format") != DETECTOR_FORMAT:
        raise TfgenError(f"not a {DETECTOR_FORMAT} file", where=str(cfg_path))
    cfg = DetectorConfig.from_dict(doc.get("config"), where=str(cfg_path))
    try:
        model = WorldDetector(cfg)
    except TfgenError as exc:
        raise TfgenError(exc.message, where=str(cfg_path)) from None
    try:
        tensors = safetensors.torch.load_file(str(w_path))
        model.load_state_dict(tensors, strict=True)
    except (OSError, RuntimeError, safetensors.SafetensorError) as exc:
        raise TfgenError(f"cannot load the detector weights ({str(exc).splitlines()[0]})", where=str(w_path)) from None
    return Judge(model, doc.get("info", {}))
