#!/usr/bin/python3
"""Render times of a GEOMAML layer in headless QGIS (python3-qgis, offscreen).

    GDAL_DRIVER_PATH=target/gdalplugins scripts/qgis_render_bench.py LAYER [LAYER ...]

LAYER is a `.geomaml` descriptor or a `GEOMAML:model.onnx:scene.tif` string. Each
view runs in a fresh process (no block cache carries over between views) and is
rendered at the map's own pixel size:

- full extent, one image pixel per map pixel;
- zoomed out 8x: the full extent into an image 8x smaller on each side;
- quarter view: the top-left quarter of the extent, one image pixel per map pixel.

Prints one line per view with the seconds taken to open the layer and to render.
"""
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (  # noqa: E402
    QgsApplication,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsRasterLayer,
    QgsRectangle,
)
from qgis.PyQt.QtCore import QSize  # noqa: E402


def render(layer, extent, size):
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(layer.crs())
    settings.setExtent(extent)
    settings.setOutputSize(QSize(size[0], size[1]))
    job = QgsMapRendererSequentialJob(settings)
    t0 = time.perf_counter()
    job.start()
    job.waitForFinished()
    return time.perf_counter() - t0, job.renderedImage()


VIEWS = ("full extent", "zoomed out 8x", "quarter view")


def one_view(source, view):
    """Opens `source` in this (fresh) process and renders `view`; prints one line."""
    app = QgsApplication([], False)
    app.initQgis()
    t0 = time.perf_counter()
    layer = QgsRasterLayer(source, "map", "gdal")
    opened = time.perf_counter() - t0
    if not layer.isValid():
        sys.exit(f"{source}: QGIS could not open the layer: {layer.error().summary()}")
    w, h = layer.width(), layer.height()
    e = layer.extent()
    if view == "full extent":
        extent, size = e, (w, h)
    elif view == "zoomed out 8x":
        extent, size = e, (max(1, w // 8), max(1, h // 8))
    else:
        extent = QgsRectangle(e.xMinimum(), e.center().y(), e.center().x(), e.yMaximum())
        size = (max(1, w // 2), max(1, h // 2))
    seconds, _ = render(layer, extent, size)
    print(f"RESULT {w} {h} {size[0]} {size[1]} {opened:.3f} {seconds:.3f}")
    del layer
    app.exitQgis()


def main(sources):
    """Every view in a process of its own, so that neither GDAL's block cache nor
    the driver's carries over from one view to the next."""
    import subprocess

    for source in sources:
        rows = []
        for view in VIEWS:
            out = subprocess.run(
                [sys.executable, __file__, "--one", source, view],
                capture_output=True, text=True, check=False,
            )
            line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
            if out.returncode != 0 or not line:
                sys.exit(f"{source} ({view}) failed:\n{out.stdout}{out.stderr}")
            w, h, iw, ih, opened, seconds = line[0].split()[1:]
            rows.append((view, int(iw), int(ih), float(opened), float(seconds)))
        print(f"{source} ({w} x {h} map px)")
        for view, iw, ih, opened, seconds in rows:
            print(f"  {view:14s} image {iw:5d} x {ih:<5d} open {opened:6.2f} s  render {seconds:6.2f} s")
        print(f"  zoomed out 8x is {rows[0][4] / max(rows[1][4], 1e-9):.1f}x faster than full extent")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        one_view(sys.argv[2], sys.argv[3])
    elif len(sys.argv) < 2:
        sys.exit(__doc__)
    else:
        main(sys.argv[1:])
