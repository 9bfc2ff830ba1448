"""Synthetic traffic signs for the 43 GTSRB classes, written as class folders: `byoc data synth`.

Signs are drawn from shapes and pictograms, then placed on cluttered backgrounds with random
pose, lighting, blur, resolution and noise. Only numpy and PIL: no TensorFlow, no downloads.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

from byoc.contract import TEST, TRAIN, VALIDATION
from byoc.data.difficulty import DIFFICULTIES, Difficulty
from byoc.data.formats import SIGNNAMES_FILE, write_class_names
from byoc.data.gtsrb import CLASS_NAMES, NUM_CLASSES, TRAIN_COUNTS
from byoc.errors import UserError

SPLITS = (TRAIN, VALIDATION, TEST)
SUMMARY_FILE = "synth.json"
# Every PPM_EVERY-th image is written as .ppm (GTSRB's own format) so readers meet both.
PPM_EVERY = 10
# Every class gets at least one image in each split.
MIN_PER_CLASS = 3

# Sign paints (RGB); per-image lighting and tint vary them.
RED, BLUE, WHITE = (200, 25, 35), (25, 75, 170), (240, 240, 236)
BLACK, GREY, YELLOW = (25, 25, 25), (125, 125, 125), (250, 195, 10)
AMBER, GREEN = (245, 160, 0), (20, 150, 60)
CLEAR = (0, 0, 0, 0)

# Backgrounds: sky, foliage, buildings, asphalt, dusk.
PALETTE = np.array([
    (135, 175, 215), (185, 205, 225), (60, 95, 50), (95, 130, 70), (140, 150, 90),
    (120, 115, 110), (170, 160, 150), (80, 80, 85), (45, 45, 50), (200, 190, 170),
    (110, 70, 50), (30, 35, 60), (220, 210, 200),
], dtype=np.float32)




# --- Drawing ------------------------------------------------------------------------------


class _Pen:
    """Draws in a local box [-1, 1]^2 placed at (cx, cy) with half-size s inside the sign."""

    def __init__(self, draw: ImageDraw.ImageDraw, px: int, cx: float = 0.0, cy: float = 0.0,
                 s: float = 1.0):
        self.draw, self.px, self.cx, self.cy, self.s = draw, px, cx, cy, s

    def sub(self, cx: float, cy: float, s: float) -> _Pen:
        return _Pen(self.draw, self.px, self.cx + self.s * cx, self.cy + self.s * cy, self.s * s)

    def xy(self, x: float, y: float) -> tuple[float, float]:
        return ((self.cx + self.s * x + 1) * self.px / 2, (self.cy + self.s * y + 1) * self.px / 2)

    def size(self, w: float) -> float:
        return w * self.s * self.px / 2

    def poly(self, pts, fill) -> None:
        self.draw.polygon([self.xy(x, y) for x, y in pts], fill=fill)

    def disk(self, x: float, y: float, r: float, fill) -> None:
        self.draw.ellipse([self.xy(x - r, y - r), self.xy(x + r, y + r)], fill=fill)

    def ring(self, x: float, y: float, r: float, width: float, fill) -> None:
        self.draw.ellipse([self.xy(x - r, y - r), self.xy(x + r, y + r)], outline=fill,
                          width=max(1, round(self.size(width))))

    def rect(self, x0: float, y0: float, x1: float, y1: float, fill, radius: float = 0) -> None:
        self.draw.rounded_rectangle([self.xy(x0, y0), self.xy(x1, y1)], self.size(radius),
                                    fill=fill)

    def line(self, pts, width: float, fill) -> None:
        self.draw.line([self.xy(x, y) for x, y in pts], fill=fill,
                       width=max(1, round(self.size(width))), joint="curve")
        for x, y in (pts[0], pts[-1]):  # round caps
            self.disk(x, y, width / 2, fill)

    def arrow(self, pts, width: float, fill, head: float = 0.5) -> None:
        """A polyline ending in an arrowhead of length `head` pointing along its last segment."""
        (x0, y0), (x1, y1) = pts[-2], pts[-1]
        d = math.hypot(x1 - x0, y1 - y0)
        ux, uy = (x1 - x0) / d, (y1 - y0) / d
        bx, by = x1 - ux * head, y1 - uy * head
        self.line([*pts[:-1], (bx, by)], width, fill)
        half = head * 0.75
        self.poly([(x1, y1), (bx - uy * half, by + ux * half), (bx + uy * half, by - ux * half)],
                  fill)

    def text(self, text: str, x0: float, y0: float, x1: float, y1: float, fill) -> None:
        """Text stretched to fill the box: numerals keep their shape at any size."""
        mask = _glyphs(text)
        (a, b), (c, d) = self.xy(x0, y0), self.xy(x1, y1)
        mask = mask.resize((round(c - a), round(d - b)), Image.LANCZOS)
        self.draw.bitmap((round(a), round(b)), mask, fill=fill)


@cache
def _glyphs(text: str) -> Image.Image:
    """`text` in bold, cropped to its ink, as an L mask."""
    font = ImageFont.load_default(size=120)
    img = Image.new("L", (140 * len(text) + 40, 200), 0)
    ImageDraw.Draw(img).text((20, 20), text, fill=255, font=font, stroke_width=7,
                             stroke_fill=255)
    return img.crop(img.getbbox())


def _circle_points(r: float, start: float, end: float, n: int = 12) -> list[tuple[float, float]]:
    angles = np.radians(np.linspace(start, end, n))
    return [(r * math.cos(a), r * math.sin(a)) for a in angles]


# Sign bodies. Each draws the shape and returns the pen for the pictogram area.

def _round(p: _Pen, rim, face, inner: float) -> _Pen:
    p.disk(0, 0, 1.0, WHITE)
    p.disk(0, 0, 0.95, rim)
    p.disk(0, 0, inner, face)
    return p.sub(0, 0, inner * 0.82)


def _prohibitory(p: _Pen) -> _Pen:
    return _round(p, RED, WHITE, 0.74)


def _mandatory(p: _Pen) -> _Pen:
    return _round(p, BLUE, BLUE, 0.95)


def _end_of(p: _Pen) -> _Pen:
    return _round(p, GREY, WHITE, 0.92)


def _stripes(p: _Pen, offsets: Sequence[float], width: float = 0.06) -> None:
    """Diagonal end-of-restriction stripes, upper right to lower left, ending on the rim."""
    for o in offsets:
        half = math.sqrt(max(0.0, 0.9**2 - o**2))
        cx, cy = o / math.sqrt(2), o / math.sqrt(2)
        dx, dy = half / math.sqrt(2), -half / math.sqrt(2)
        p.line([(cx - dx, cy - dy), (cx + dx, cy + dy)], width, BLACK)


_TRIANGLE = [(0.0, -0.92), (-1.0, 0.82), (1.0, 0.82)]


def _triangle(p: _Pen, pts, inset: float) -> None:
    cx, cy = sum(x for x, _ in pts) / 3, sum(y for _, y in pts) / 3
    p.poly(pts, RED)
    p.poly([(cx + (x - cx) * inset, cy + (y - cy) * inset) for x, y in pts], WHITE)


def _warning(p: _Pen) -> _Pen:
    _triangle(p, _TRIANGLE, 0.68)
    return p.sub(0, 0.28, 0.4)


# Pictograms, drawn in their local box.

def _car(p: _Pen, fill) -> None:
    p.rect(-0.55, -0.1, 0.55, 0.45, fill, 0.12)
    p.rect(-0.38, -0.5, 0.38, 0.0, fill, 0.15)
    p.rect(-0.5, 0.35, -0.25, 0.65, fill, 0.05)
    p.rect(0.25, 0.35, 0.5, 0.65, fill, 0.05)


def _truck(p: _Pen, fill) -> None:
    p.rect(-0.75, -0.5, 0.3, 0.35, fill, 0.04)
    p.rect(0.36, -0.2, 0.75, 0.35, fill, 0.08)
    p.disk(-0.45, 0.45, 0.18, fill)
    p.disk(0.5, 0.45, 0.18, fill)


def _figure(p: _Pen, stride: float = 0.35) -> None:
    p.disk(0.05, -0.75, 0.17, BLACK)
    p.line([(0.0, -0.5), (-0.05, 0.15)], 0.22, BLACK)
    p.line([(-0.05, 0.15), (-stride, 0.85)], 0.16, BLACK)
    p.line([(-0.05, 0.15), (stride * 0.8, 0.85)], 0.16, BLACK)
    p.line([(0.0, -0.4), (-0.35, 0.05)], 0.13, BLACK)
    p.line([(0.0, -0.4), (0.35, -0.05)], 0.13, BLACK)


def _curve_right(p: _Pen) -> None:
    p.arrow([(-0.3, 0.9), (-0.3, 0.25), (-0.15, -0.05), (0.2, -0.35), (0.45, -0.75)], 0.22,
            BLACK, 0.45)


def _double_curve(p: _Pen) -> None:
    ys = np.linspace(0.9, -0.55, 14)
    pts = [(-0.35 * math.sin((0.9 - y) / 1.45 * 2 * math.pi), y) for y in ys]
    p.arrow([*pts, (0.0, -0.9)], 0.2, BLACK, 0.4)


def _bumpy(p: _Pen) -> None:
    xs = np.linspace(-0.9, 0.9, 25)
    ys = 0.35 - 0.55 * np.abs(np.sin((xs + 0.9) / 1.8 * 2 * np.pi))
    p.poly([(-0.9, 0.7), *zip(xs.tolist(), ys.tolist(), strict=True), (0.9, 0.7)], BLACK)


def _slippery(p: _Pen) -> None:
    _car(p.sub(0, -0.4, 0.55), BLACK)
    for y0 in (0.35, 0.7):
        xs = np.linspace(-0.8, 0.8, 12)
        ys = y0 + 0.1 * np.sin(xs * 6)
        p.line(list(zip(xs.tolist(), ys.tolist(), strict=True)), 0.1, BLACK)


def _narrows_right(p: _Pen) -> None:
    p.line([(-0.45, 0.9), (-0.45, -0.9)], 0.2, BLACK)
    p.line([(0.5, 0.9), (0.5, 0.2), (0.1, -0.25), (0.1, -0.9)], 0.2, BLACK)


def _road_work(p: _Pen) -> None:
    p.poly([(-0.95, 0.85), (-0.55, 0.3), (-0.2, 0.85)], BLACK)
    p.disk(0.35, -0.7, 0.17, BLACK)
    p.line([(0.3, -0.45), (0.05, 0.15)], 0.24, BLACK)
    p.line([(0.05, 0.15), (0.45, 0.85)], 0.16, BLACK)
    p.line([(0.05, 0.15), (-0.15, 0.85)], 0.16, BLACK)
    p.line([(0.25, -0.35), (-0.35, 0.0), (-0.55, 0.35)], 0.1, BLACK)


def _signals(p: _Pen) -> None:
    p.rect(-0.38, -0.95, 0.38, 0.95, BLACK, 0.15)
    for y, colour in ((-0.6, RED), (0.0, AMBER), (0.6, GREEN)):
        p.disk(0, y, 0.25, colour)


def _children(p: _Pen) -> None:
    _figure(p.sub(-0.35, -0.05, 0.9))
    _figure(p.sub(0.45, 0.25, 0.6), 0.25)


def _bicycle(p: _Pen) -> None:
    for x in (-0.55, 0.55):
        p.ring(x, 0.4, 0.35, 0.1, BLACK)
    p.line([(-0.55, 0.4), (-0.1, -0.2), (0.35, -0.2), (0.55, 0.4)], 0.09, BLACK)
    p.line([(-0.1, -0.2), (0.0, 0.4), (0.35, -0.2)], 0.09, BLACK)
    p.line([(0.35, -0.2), (0.3, -0.45), (0.5, -0.45)], 0.09, BLACK)


def _snowflake(p: _Pen) -> None:
    for angle in (90, 30, 150):
        a = math.radians(angle)
        dx, dy = 0.85 * math.cos(a), 0.85 * math.sin(a)
        p.line([(-dx, -dy), (dx, dy)], 0.1, BLACK)
        for sign in (1, -1):
            bx, by = sign * 0.55 * math.cos(a), sign * 0.55 * math.sin(a)
            for turn in (0.6, -0.6):
                ex = bx + sign * 0.25 * math.cos(a + turn)
                ey = by + sign * 0.25 * math.sin(a + turn)
                p.line([(bx, by), (ex, ey)], 0.07, BLACK)


def _deer(p: _Pen) -> None:
    p.poly([(-0.6, -0.05), (0.25, -0.25), (0.45, -0.05), (0.2, 0.2), (-0.55, 0.25)], BLACK)
    p.line([(0.3, -0.2), (0.55, -0.6)], 0.15, BLACK)
    p.poly([(0.45, -0.7), (0.85, -0.6), (0.55, -0.5)], BLACK)
    p.line([(0.5, -0.65), (0.35, -0.95)], 0.05, BLACK)
    p.line([(0.55, -0.68), (0.65, -0.95)], 0.05, BLACK)
    p.line([(0.2, 0.1), (0.6, 0.45), (0.75, 0.8)], 0.09, BLACK)
    p.line([(0.1, 0.1), (0.3, 0.6), (0.25, 0.9)], 0.09, BLACK)
    p.line([(-0.45, 0.15), (-0.8, 0.5), (-0.9, 0.8)], 0.09, BLACK)
    p.line([(-0.4, 0.15), (-0.5, 0.6), (-0.7, 0.85)], 0.09, BLACK)


def _turn_right(p: _Pen) -> None:
    p.arrow([(-0.35, 0.9), (-0.35, 0.1), (-0.25, -0.15), (0.0, -0.2), (0.85, -0.2)], 0.3,
            WHITE, 0.5)


def _straight_or_right(p: _Pen) -> None:
    p.arrow([(-0.25, 0.9), (-0.25, -0.9)], 0.28, WHITE, 0.45)
    p.arrow([(-0.25, 0.35), (0.1, 0.0), (0.85, 0.0)], 0.24, WHITE, 0.45)


def _keep_right(p: _Pen) -> None:
    p.arrow([(-0.55, -0.55), (0.6, 0.6)], 0.3, WHITE, 0.6)


def _roundabout(p: _Pen) -> None:
    for start in (-60, 60, 180):
        p.arrow(_circle_points(0.6, start, start + 85), 0.22, WHITE, 0.4)


def _speed(text: str) -> Callable[[_Pen], None]:
    def draw(p: _Pen) -> None:
        half = 0.5 if len(text) < 3 else 0.72
        _prohibitory(p).text(text, -half, -0.55, half, 0.55, BLACK)

    return draw


def _prohibits(*pictograms: tuple[Callable[[_Pen, tuple], None], float, tuple]) -> Callable:
    """A red-rimmed circle holding vehicles (pictogram, x offset, colour)."""
    def draw(p: _Pen) -> None:
        inner = _prohibitory(p)
        for picto, x, colour in pictograms:
            picto(inner.sub(x, 0, 0.55 if len(pictograms) > 1 else 0.85), colour)

    return draw


def _ends(*pictograms: tuple[Callable[[_Pen, tuple], None], float, tuple], text: str = "",
          offsets: Sequence[float] = (-0.12, -0.04, 0.04, 0.12)) -> Callable:
    """A white circle with greyed content and diagonal stripes: end of a restriction."""
    def draw(p: _Pen) -> None:
        inner = _end_of(p)
        if text:
            inner.text(text, -0.5, -0.6, 0.5, 0.6, GREY)
        for picto, x, colour in pictograms:
            picto(inner.sub(x, 0, 0.55), colour)
        _stripes(p, offsets)

    return draw


def _on(body: Callable[[_Pen], _Pen], picto: Callable[[_Pen], None] | None = None) -> Callable:
    def draw(p: _Pen) -> None:
        inner = body(p)
        if picto is not None:
            picto(inner)

    return draw


def _right_of_way(p: _Pen) -> None:
    p.rect(-0.14, -0.9, 0.14, 0.85, BLACK)
    p.rect(-0.6, -0.2, 0.6, 0.0, BLACK)


def _caution(p: _Pen) -> None:
    p.poly([(-0.16, -0.9), (0.16, -0.9), (0.07, 0.35), (-0.07, 0.35)], BLACK)
    p.disk(0, 0.68, 0.16, BLACK)


def _priority(p: _Pen) -> None:
    diamond = [(0, -1), (1, 0), (0, 1), (-1, 0)]
    p.poly(diamond, GREY)
    p.poly([(x * 0.96, y * 0.96) for x, y in diamond], WHITE)
    p.poly([(x * 0.66, y * 0.66) for x, y in diamond], BLACK)
    p.poly([(x * 0.6, y * 0.6) for x, y in diamond], YELLOW)


def _yield(p: _Pen) -> None:
    _triangle(p, [(-1.0, -0.82), (1.0, -0.82), (0.0, 0.92)], 0.6)


def _stop(p: _Pen) -> None:
    octagon = [(math.cos(a), math.sin(a)) for a in np.radians(np.arange(22.5, 360, 45))]
    p.poly(octagon, WHITE)
    p.poly([(x * 0.93, y * 0.93) for x, y in octagon], RED)
    p.text("STOP", -0.68, -0.22, 0.68, 0.22, WHITE)


def _no_entry(p: _Pen) -> None:
    p.disk(0, 0, 1.0, WHITE)
    p.disk(0, 0, 0.95, RED)
    p.rect(-0.65, -0.16, 0.65, 0.16, WHITE)


def _mirror_of(draw: Callable[[_Pen], None]) -> Callable[[_Pen], None]:
    """The left-hand twin of a right-hand sign: `sign_template` flips it after drawing."""
    def mirrored(p: _Pen) -> None:
        draw(p)

    mirrored.mirrored = True  # type: ignore[attr-defined]
    return mirrored


_vehicles_ahead = ((_car, -0.5, RED), (_car, 0.5, BLACK))
_truck_passing = ((_truck, -0.5, RED), (_car, 0.55, BLACK))

# ClassId -> drawing, in GTSRB order.
SIGNS: tuple[Callable[[_Pen], None], ...] = (
    _speed("20"), _speed("30"), _speed("50"), _speed("60"), _speed("70"), _speed("80"),
    _ends(text="80"), _speed("100"), _speed("120"),
    _prohibits(*_vehicles_ahead), _prohibits(*_truck_passing),
    _on(_warning, _right_of_way), _priority, _yield, _stop,
    _on(_prohibitory), _prohibits((_truck, 0, BLACK)), _no_entry,
    _on(_warning, _caution), _mirror_of(_on(_warning, _curve_right)), _on(_warning, _curve_right),
    _on(_warning, _double_curve), _on(_warning, _bumpy), _on(_warning, _slippery),
    _on(_warning, _narrows_right), _on(_warning, _road_work), _on(_warning, _signals),
    _on(_warning, _figure), _on(_warning, _children), _on(_warning, _bicycle),
    _on(_warning, _snowflake), _on(_warning, _deer),
    _ends(offsets=(-0.2, -0.12, -0.04, 0.04, 0.12, 0.2)),
    _on(_mandatory, _turn_right), _mirror_of(_on(_mandatory, _turn_right)),
    _on(_mandatory, lambda p: p.arrow([(0, 0.9), (0, -0.9)], 0.32, WHITE, 0.6)),
    _on(_mandatory, _straight_or_right), _mirror_of(_on(_mandatory, _straight_or_right)),
    _on(_mandatory, _keep_right), _mirror_of(_on(_mandatory, _keep_right)),
    _on(_mandatory, _roundabout),
    _ends(*((picto, x, GREY) for picto, x, _ in _vehicles_ahead)),
    _ends(*((picto, x, GREY) for picto, x, _ in _truck_passing)),
)
assert len(SIGNS) == NUM_CLASSES


@cache
def sign_template(class_id: int, px: int) -> Image.Image:
    """The clean sign of `class_id` as an RGBA image of px x px (transparent around it)."""
    big = px * 4  # PIL draws without anti-aliasing: draw large, then shrink
    img = Image.new("RGBA", (big, big), CLEAR)
    draw = SIGNS[class_id]
    draw(_Pen(ImageDraw.Draw(img), big))
    if getattr(draw, "mirrored", False):
        img = ImageOps.mirror(img)
    return img.resize((px, px), Image.LANCZOS)


# --- Scenes -------------------------------------------------------------------------------


def _perspective_coeffs(dst: np.ndarray, px: int) -> list[float]:
    """Coefficients mapping output pixels back into a px x px template whose corners land on
    `dst` (4 x 2: top-left, top-right, bottom-right, bottom-left)."""
    src = np.array([(0, 0), (px, 0), (px, px), (0, px)], dtype=np.float64)
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    return np.linalg.solve(np.array(rows), np.array(rhs)).tolist()


def _background(rng: np.random.Generator, w: int, d: Difficulty) -> Image.Image:
    # Four corner colours stretched bilinearly: a smooth gradient for almost no work.
    corners = PALETTE[rng.integers(len(PALETTE), size=4)] + rng.normal(0, 12, (4, 3))
    tiny = Image.fromarray(np.clip(corners, 0, 255).astype(np.uint8).reshape(2, 2, 3))
    img = tiny.resize((w, w), Image.BILINEAR)
    draw = ImageDraw.Draw(img)
    for _ in range(rng.integers(0, d.clutter + 1)):
        colour = tuple(int(v) for v in PALETTE[rng.integers(len(PALETTE))] + rng.normal(0, 20, 3))
        x0, y0 = rng.uniform(-0.2, 1.0, 2) * w
        x1, y1 = x0 + rng.uniform(0.05, 0.6) * w, y0 + rng.uniform(0.05, 0.6) * w
        shape = rng.integers(3)
        if shape == 0:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
        elif shape == 1:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
        else:
            draw.line([x0, y0, x1, y1], fill=colour, width=int(rng.integers(1, max(2, w // 10))))
    return img


def render(class_id: int, rng: np.random.Generator, size: int = 32,
           difficulty: str | Difficulty = "normal") -> np.ndarray:
    """One synthetic photo of sign `class_id`: size x size x 3 uint8."""
    d = DIFFICULTIES[difficulty] if isinstance(difficulty, str) else difficulty
    w = size * 2  # work at twice the size, so that shrinking anti-aliases
    img = _background(rng, w, d)
    draw = ImageDraw.Draw(img)

    side = rng.uniform(*d.scale) * w
    cx, cy = w / 2 + rng.uniform(-d.shift, d.shift, 2) * w
    if rng.random() < 0.5:  # a post under the sign
        pole, grey = side * rng.uniform(0.06, 0.1), int(rng.integers(90, 170))
        draw.rectangle([cx - pole, cy, cx + pole, w], fill=(grey, grey, grey))

    angle = math.radians(rng.uniform(-d.rotation, d.rotation))
    corners = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1)], dtype=np.float64) * side / 2
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    dst = corners @ rot.T + (cx, cy) + rng.uniform(-d.perspective, d.perspective, (4, 2)) * side
    template = sign_template(class_id, w)
    sign = template.transform((w, w), Image.PERSPECTIVE, _perspective_coeffs(dst, w),
                              Image.BILINEAR)
    img.paste(sign, (0, 0), sign)

    if rng.random() < d.occlusion:  # a branch, a sticker, another sign's edge
        colour = tuple(int(v) for v in PALETTE[rng.integers(len(PALETTE))])
        ox, oy = cx + rng.uniform(-0.6, 0.6, 2) * side
        r = rng.uniform(0.15, 0.35) * side
        if rng.random() < 0.5:
            draw.ellipse([ox - r, oy - r, ox + r, oy + r], fill=colour)
        else:
            draw.line([ox - 2 * r, oy - r, ox + 2 * r, oy + r], fill=colour, width=int(r * 0.6))

    low = max(6, round(size * rng.uniform(*d.resolution)))
    img = img.resize((low, low), Image.BILINEAR, reducing_gap=2.0)
    if low != size:
        img = img.resize((size, size), Image.BILINEAR)
    blur = rng.uniform(0, d.blur)
    if blur > 0.3:
        img = img.filter(ImageFilter.GaussianBlur(blur))

    arr = np.asarray(img, dtype=np.float32)
    fade = rng.uniform(0, d.fade)
    if fade:
        arr = arr + (arr.mean(axis=2, keepdims=True) - arr) * fade
    arr = arr * (rng.uniform(*d.gain) * (1 + rng.uniform(-d.tint, d.tint, 3)))
    if rng.random() < d.shadow:
        a = rng.uniform(0, 2 * math.pi)
        g = _grid(size)
        side_mask = (g[0] * math.cos(a) + g[1] * math.sin(a)) > rng.uniform(-0.5, 0.5)
        arr[side_mask] *= rng.uniform(0.35, 0.7)
    arr += rng.normal(0, rng.uniform(0, d.noise), arr.shape).astype(np.float32)
    return np.clip(arr, 0, 255).astype(np.uint8)


@lru_cache(maxsize=8)
def _grid(n: int) -> np.ndarray:
    """Pixel coordinates in -1..1, shape 2 x n x n (x, y)."""
    c = np.linspace(-1, 1, n, dtype=np.float32)
    return np.stack(np.meshgrid(c, c))


# --- Dataset ------------------------------------------------------------------------------


def class_counts(per_class: int, balanced: bool = False) -> list[int]:
    """Images per class: `per_class` on average, shaped like GTSRB's training set (at least
    MIN_PER_CLASS each), unless `balanced` (then exactly `per_class` each)."""
    if balanced:
        return [per_class] * NUM_CLASSES
    total = per_class * NUM_CLASSES
    return [max(MIN_PER_CLASS, round(total * c / sum(TRAIN_COUNTS))) for c in TRAIN_COUNTS]


def split_counts(n: int, fractions: dict[str, float]) -> dict[str, int]:
    """Split n images: every split with a non-zero fraction gets at least one; train the rest."""
    out = {s: max(1, round(n * f)) if f > 0 else 0 for s, f in fractions.items() if s != TRAIN}
    out[TRAIN] = n - sum(out.values())
    return {s: out[s] for s in SPLITS}


@dataclass
class SynthSummary:
    out: str
    seed: int
    per_class: int
    balanced: bool
    image_size: int
    difficulty: str
    images: dict[str, int] = field(default_factory=dict)  # split -> images
    per_class_images: dict[str, list[int]] = field(default_factory=dict)  # split -> per ClassId
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.images.values())


def generate(
    out: str | Path,
    per_class: int = 100,
    seed: int = 0,
    *,
    image_size: int = 32,
    difficulty: str = "normal",
    balanced: bool = False,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> SynthSummary:
    """Write DIR/{train,validation,test}/<ClassId>/ images plus signnames.csv in each split.

    The same arguments give the same bytes. `per_class` is the mean images per class.
    """
    out = Path(out)
    _check(out, per_class, image_size, difficulty, validation_fraction, test_fraction, overwrite)
    fractions = {TRAIN: 1 - validation_fraction - test_fraction, VALIDATION: validation_fraction,
                 TEST: test_fraction}
    counts = class_counts(per_class, balanced)
    summary = SynthSummary(str(out), seed, per_class, balanced, image_size, difficulty,
                           per_class_images={s: [] for s in SPLITS})
    total, done, started = sum(counts), 0, time.perf_counter()
    for split in SPLITS:
        (out / split).mkdir(parents=True, exist_ok=True)
        write_class_names(out / split / SIGNNAMES_FILE, CLASS_NAMES)
    for class_id, n in enumerate(counts):
        # One stream per class: a class's images do not depend on the other classes' counts.
        rng = np.random.default_rng([seed, class_id])
        index = 0
        for split, k in split_counts(n, fractions).items():
            summary.per_class_images[split].append(k)
            folder = out / split / f"{class_id:02d}"
            folder.mkdir(exist_ok=True)
            for _ in range(k):
                arr = render(class_id, rng, image_size, difficulty)
                suffix = "ppm" if done % PPM_EVERY == PPM_EVERY - 1 else "png"
                Image.fromarray(arr).save(folder / f"{class_id:02d}_{index:05d}.{suffix}")
                index += 1
                done += 1
                if progress is not None:
                    progress(done, total)
    summary.images = {s: sum(v) for s, v in summary.per_class_images.items()}
    summary.seconds = round(time.perf_counter() - started, 3)
    record = asdict(summary)
    for volatile in ("out", "seconds"):  # the same arguments give the same bytes, anywhere
        del record[volatile]
    (out / SUMMARY_FILE).write_text(json.dumps(record, indent=1) + "\n")
    return summary


def _check(out: Path, per_class: int, image_size: int, difficulty: str,
           validation_fraction: float, test_fraction: float, overwrite: bool) -> None:
    if per_class < MIN_PER_CLASS:
        raise UserError(f"--per-class {per_class}: use at least {MIN_PER_CLASS}, so that each "
                        "split gets an image of every class.")
    if not 16 <= image_size <= 512:
        raise UserError(f"--image-size {image_size}: use a size from 16 to 512 pixels.")
    if difficulty not in DIFFICULTIES:
        raise UserError(f"--difficulty {difficulty}: use one of {', '.join(DIFFICULTIES)}.")
    for flag, value in (("--validation-fraction", validation_fraction),
                        ("--test-fraction", test_fraction)):
        if not 0 <= value < 1:
            raise UserError(f"{flag} {value}: use a fraction from 0 up to (not incl.) 1.")
    if validation_fraction + test_fraction > 0.9:
        raise UserError("--validation-fraction plus --test-fraction leave less than 10% for "
                        "training; lower them.")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a directory.")
    existing = [out / s for s in SPLITS if (out / s).exists()]
    if existing and not overwrite:
        raise UserError(f"{existing[0]} already exists. Choose another --out, or pass "
                        "--overwrite to replace the train, validation and test folders there.")
    for path in existing:
        shutil.rmtree(path)
