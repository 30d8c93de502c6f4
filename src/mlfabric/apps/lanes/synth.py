"""Synthetic road pictures with their TuSimple labels: a road in perspective towards a
vanishing point, 2-5 lane markings (solid or dashed) that curve together, vehicles that
hide parts of them, and lighting and shadows. Labels keep hidden parts, as TuSimple's
annotators did."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from mlfabric.apps.lanes.tusimple import ABSENT, Label

MIN_LANES, MAX_LANES = 2, 5


def h_samples_for(height: int) -> list[int]:
    """TuSimple's rows (160 to 710 every 10 of 720) scaled to ``height``."""
    step = max(1, round(10 * height / 720))
    start = round(160 * height / 720)
    return list(range(start, height, step))


@dataclass(frozen=True)
class Scene:
    """What one picture shows (enough to draw it and to label it)."""

    width: int
    height: int
    horizon: float
    vanish_x: float
    bottoms: list[float]  # each lane's x at the bottom row, left to right
    curve: float  # sideways shift at the horizon, pixels
    dashed: list[bool]

    def lane_x(self, lane: int, y: np.ndarray) -> np.ndarray:
        """x of ``lane`` at rows ``y`` (below the horizon)."""
        t = (y - self.horizon) / (self.height - self.horizon)  # 0 at the horizon, 1 below
        return self.vanish_x + (self.bottoms[lane] - self.vanish_x) * t + \
            self.curve * (1 - t) ** 2

    def label(self, raw_file: str) -> Label:
        ys = np.asarray(h_samples_for(self.height), dtype=float)
        lanes = []
        for i in range(len(self.bottoms)):
            xs = np.round(self.lane_x(i, ys), 1)
            visible = (ys > self.horizon + 1) & (xs >= 0) & (xs < self.width)
            lane = [float(x) if v else ABSENT for x, v in zip(xs, visible, strict=True)]
            if sum(x != ABSENT for x in lane) >= 2:
                lanes.append(lane)
        return Label(raw_file, [int(y) for y in ys], lanes)


def make_scene(rng: np.random.Generator, width: int, height: int) -> Scene:
    n = int(rng.integers(MIN_LANES, MAX_LANES + 1))
    lane_width = width * rng.uniform(0.3, 0.45)
    centre = width / 2 + rng.uniform(-0.15, 0.15) * width
    first = centre - lane_width * (n - 1) / 2
    bottoms = [first + i * lane_width for i in range(n)]
    return Scene(width, height, horizon=height * rng.uniform(0.38, 0.45),
                 vanish_x=width / 2 + rng.uniform(-0.1, 0.1) * width, bottoms=bottoms,
                 curve=float(rng.uniform(-0.25, 0.25) * width),
                 dashed=[bool(rng.random() < 0.5) for _ in range(n)])


def render(scene: Scene, rng: np.random.Generator) -> Image.Image:
    """The picture of ``scene``: sky, road, markings, shadows, vehicles, light."""
    w, h, hz = scene.width, scene.height, scene.horizon
    img = Image.new("RGB", (w, h))
    draw = ImageDraw.Draw(img)
    sky = np.array([120, 160, 210]) * rng.uniform(0.7, 1.1)
    draw.rectangle([0, 0, w, hz], fill=tuple(int(c) for c in sky))
    grass = np.array([70, 110, 60]) * rng.uniform(0.6, 1.2)
    draw.rectangle([0, hz, w, h], fill=tuple(int(c) for c in grass))
    edge = (scene.bottoms[-1] - scene.bottoms[0]) * 0.35
    left = scene.vanish_x + scene.curve, hz
    road = [left, (scene.bottoms[0] - edge, h), (scene.bottoms[-1] + edge, h), left]
    grey = int(rng.uniform(60, 110))
    draw.polygon(road, fill=(grey, grey, grey + 5))
    for _ in range(int(rng.integers(0, 4))):  # shadows of trees and bridges
        y0 = rng.uniform(hz, h)
        band = rng.uniform(0.03, 0.12) * h
        shade = int(grey * rng.uniform(0.3, 0.6))
        draw.rectangle([0, y0, w, y0 + band], fill=(shade, shade, shade + 3))
    ys = np.linspace(hz + 1, h, 60)
    for lane in range(len(scene.bottoms)):
        xs = scene.lane_x(lane, ys)
        white = int(rng.uniform(190, 255))
        colour = (white, white, int(white * rng.uniform(0.6, 1.0)))
        for k in range(len(ys) - 1):
            if scene.dashed[lane] and (k // 4) % 2:
                continue
            t = (ys[k] - hz) / (h - hz)
            draw.line([(xs[k], ys[k]), (xs[k + 1], ys[k + 1])], fill=colour,
                      width=max(1, round(t * w / 60)))
    for _ in range(int(rng.integers(0, 3))):  # vehicles between the markings
        lane = int(rng.integers(0, max(1, len(scene.bottoms) - 1)))
        y1 = rng.uniform(hz + 0.1 * (h - hz), h)
        t = (y1 - hz) / (h - hz)
        xa, xb = (float(scene.lane_x(i, np.array([y1]))[0])
                  for i in (lane, min(lane + 1, len(scene.bottoms) - 1)))
        cx = (xa + xb) / 2 + rng.uniform(-0.3, 0.3) * abs(xb - xa)
        half = max(2.0, 0.35 * abs(xb - xa) + 2 * t)
        body = tuple(int(c) for c in rng.integers(20, 230, 3))
        draw.rectangle([cx - half, y1 - 1.2 * half, cx + half, y1], fill=body)
        draw.rectangle([cx - 0.7 * half, y1 - 1.1 * half, cx + 0.7 * half, y1 - 0.7 * half],
                       fill=(30, 30, 40))
    arr = np.asarray(img, dtype=np.float32)
    arr *= rng.uniform(0.5, 1.3)  # time of day
    gradient = np.linspace(rng.uniform(0.7, 1.2), rng.uniform(0.7, 1.2), w, dtype=np.float32)
    arr *= gradient[None, :, None]  # sun from one side
    arr += rng.normal(0, 6, arr.shape).astype(np.float32)
    out = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    return out.filter(ImageFilter.GaussianBlur(0.5)) if rng.random() < 0.5 else out
