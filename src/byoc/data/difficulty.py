"""How far synthetic signs stray from a clean, centred, well-lit sign: one table of settings.

Plain Python, so that `byoc data synth --help` lists the names without loading numpy or PIL.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Difficulty:
    """How far images stray from a clean, centred, well-lit sign."""

    scale: tuple[float, float]  # sign width as a fraction of the image side
    shift: float  # max centre offset, fraction of the image side
    rotation: float  # max degrees
    perspective: float  # max corner displacement, fraction of the sign width
    blur: float  # max Gaussian radius, output pixels
    resolution: tuple[float, float]  # effective resolution, fraction of the output size
    gain: tuple[float, float]  # overall brightness factor
    tint: float  # max per-channel colour cast
    fade: float  # max desaturation of the sign
    noise: float  # max noise standard deviation (0..255 scale)
    clutter: int  # max background shapes
    shadow: float  # probability of a hard shadow across the image
    occlusion: float  # probability of an occluding shape


DIFFICULTIES = {
    "easy": Difficulty((0.75, 0.9), 0.04, 5, 0.04, 0.5, (0.9, 1.0), (0.7, 1.2), 0.05, 0.1,
                       3, 3, 0.0, 0.0),
    "normal": Difficulty((0.65, 0.9), 0.06, 8, 0.06, 0.7, (0.7, 1.0), (0.5, 1.25), 0.1, 0.2,
                         5, 5, 0.15, 0.03),
    "hard": Difficulty((0.45, 0.95), 0.15, 18, 0.15, 1.1, (0.4, 1.0), (0.3, 1.5), 0.2, 0.45,
                       12, 10, 0.35, 0.4),
}
