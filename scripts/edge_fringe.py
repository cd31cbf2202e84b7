#!/usr/bin/python3
"""Counts Water cells on a map's fringe: the cells on the scene's border or next to
its nodata, where reading invalid pixels as zeros used to paint water.

Usage: edge_fringe.py SCENE MAP TRUTH   (prints one JSON line)

A map cell covers stride x stride scene pixels (stride = scene width / map width).
It is on the fringe when it is in the map's outer ring (the border) or 8-adjacent
to a cell holding any scene pixel that GDAL's mask bands mark invalid; both the
fringe and the border alone are counted. The truth's class of
a cell is the majority of its truth pixels. Uses the system python3 with GDAL's
bindings (python3-gdal) and numpy.
"""
import json
import sys

import numpy as np
from osgeo import gdal

gdal.UseExceptions()


def legend_id(ds, name):
    for k, v in (ds.GetMetadata() or {}).items():
        if k.startswith("CLASS_") and v.lower() == name.lower():
            return int(k[6:])
    raise SystemExit(f"{ds.GetDescription()}: no class named {name} in its legend")


def main(scene_path, map_path, truth_path):
    scene = gdal.Open(scene_path)
    m = gdal.Open(map_path)
    truth = gdal.Open(truth_path)
    w, h = scene.RasterXSize, scene.RasterYSize
    mw, mh = m.RasterXSize, m.RasterYSize
    stride = w // mw
    invalid = np.zeros((h, w), bool)
    for b in range(1, scene.RasterCount + 1):
        invalid |= scene.GetRasterBand(b).GetMaskBand().ReadAsArray() == 0
    cells_invalid = np.zeros((mh, mw), bool)
    for i in range(mh):
        for j in range(mw):
            cells_invalid[i, j] = invalid[i * stride:(i + 1) * stride, j * stride:(j + 1) * stride].any()
    ring = np.zeros((mh, mw), bool)
    ring[0, :] = ring[-1, :] = ring[:, 0] = ring[:, -1] = True
    fringe = ring.copy()
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            shifted = np.zeros_like(cells_invalid)
            shifted[max(di, 0):mh + min(di, 0), max(dj, 0):mw + min(dj, 0)] = \
                cells_invalid[max(-di, 0):mh + min(-di, 0), max(-dj, 0):mw + min(-dj, 0)]
            fringe |= shifted
    water = legend_id(m, "Water")
    classes = m.GetRasterBand(1).ReadAsArray()
    t = truth.GetRasterBand(1).ReadAsArray()
    t_nd = truth.GetRasterBand(1).GetNoDataValue()

    def count(cells):
        in_map = in_truth = 0
        for i, j in zip(*np.nonzero(cells)):
            if classes[i, j] == water:
                in_map += 1
            block = t[i * stride:(i + 1) * stride, j * stride:(j + 1) * stride].ravel()
            block = block[block != t_nd] if t_nd is not None else block
            if block.size and np.bincount(block.astype(np.int64)).argmax() == water:
                in_truth += 1
        return int(cells.sum()), in_map, in_truth

    f, r = count(fringe), count(ring)
    print(json.dumps({"map": map_path,
                      "fringe": {"cells": f[0], "water_in_map": f[1], "water_in_truth": f[2]},
                      "border": {"cells": r[0], "water_in_map": r[1], "water_in_truth": r[2]}}))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
