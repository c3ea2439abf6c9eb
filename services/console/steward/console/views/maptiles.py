"""The projects map's base tiles, laid out on the server: Web Mercator ("slippy map") tiles from
``STEWARD_MAP_TILE_URL`` (a template such as ``/tiles/{z}/{x}/{y}.png`` on the intranet) as plain
``<img>`` elements, with the project points on top, all positioned in percent of a fixed-ratio
viewport so the map scales with the page and needs no script. Without the setting the map is the
points' relative positions on a plain background."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlsplit

TILE = 256
VIEW_W, VIEW_H = 1024, 512  # the viewport in tile pixels (2:1)
MIN_ZOOM, MAX_ZOOM = 3, 17
MAX_LAT = 85.05112878


def world_px(lon: float, lat: float, z: int) -> tuple[float, float]:
    """A position in pixels of the whole world at zoom ``z`` (Web Mercator, EPSG:3857)."""
    lat = max(-MAX_LAT, min(MAX_LAT, lat))
    size = TILE * 2**z
    x = (lon + 180.0) / 360.0 * size
    s = math.sin(math.radians(lat))
    y = (0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * size
    return x, y


def fit_zoom(coords: list[tuple[float, float]], max_zoom: int = MAX_ZOOM) -> int:
    """The largest zoom at which every point fits inside 90% of the viewport."""
    for z in range(max_zoom, MIN_ZOOM - 1, -1):
        xs, ys = zip(*(world_px(lon, lat, z) for lon, lat in coords), strict=True)
        if max(xs) - min(xs) <= VIEW_W * 0.9 and max(ys) - min(ys) <= VIEW_H * 0.9:
            return z
    return MIN_ZOOM


def tile_url(template: str, z: int, x: int, y: int) -> str:
    return template.replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y))


def layout(template: str, features: list[dict[str, Any]], max_zoom: int = MAX_ZOOM) -> dict[str, Any]:
    """Tiles and points for ``features`` (GeoJSON points): zoom, the tiles covering the viewport
    centred on the points' bounding box, each point's left/top in percent of the viewport."""
    coords = [
        (float(f["geometry"]["coordinates"][0]), float(f["geometry"]["coordinates"][1])) for f in features
    ]
    z = fit_zoom(coords, max_zoom)
    pxs = [world_px(lon, lat, z) for lon, lat in coords]
    cx = (min(p[0] for p in pxs) + max(p[0] for p in pxs)) / 2
    cy = (min(p[1] for p in pxs) + max(p[1] for p in pxs)) / 2
    left, top = cx - VIEW_W / 2, cy - VIEW_H / 2
    n = 2**z
    tiles = []
    for ty in range(math.floor(top / TILE), math.floor((top + VIEW_H - 1) / TILE) + 1):
        if not 0 <= ty < n:
            continue  # above or below the world
        for tx in range(math.floor(left / TILE), math.floor((left + VIEW_W - 1) / TILE) + 1):
            tiles.append(
                {
                    "src": tile_url(template, z, tx % n, ty),
                    "left": (tx * TILE - left) / VIEW_W * 100,
                    "top": (ty * TILE - top) / VIEW_H * 100,
                    "width": TILE / VIEW_W * 100,
                    "height": TILE / VIEW_H * 100,
                }
            )
    points = [
        {"left": (x - left) / VIEW_W * 100, "top": (y - top) / VIEW_H * 100, "props": f.get("properties", {})}
        for f, (x, y) in zip(features, pxs, strict=True)
    ]
    return {"zoom": z, "tiles": tiles, "points": points}


def img_source(template: str | None) -> str | None:
    """The origin the CSP must allow for the tiles (``None`` when they are the console's own)."""
    if not template:
        return None
    parts = urlsplit(template)
    if not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme else parts.netloc
