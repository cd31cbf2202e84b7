#!/usr/bin/env python3
"""Reference for the mapping benchmark: a plain sliding-window land-cover mapper,
written the way a user would with GDAL's Python bindings and onnxruntime.

Reads the whole scene, cuts a window of the model's tile size centred on every
stride step, normalises it with the model card, classifies batches with
onnxruntime and writes one class per stride step to a GeoTIFF with the scene's
CRS and a stride-scaled geotransform (same convention as `geomaml map`).

    map_reference.py MODEL.onnx SCENE.tif OUT.tif [--stride 32] [--batch-size 64]

numpy and onnxruntime come from the geomaml venv; osgeo from the system
(appended to sys.path, and read through ReadRaster so that the system's
numpy-compiled gdal_array is not needed).
"""
import argparse
import json
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort

sys.path.append("/usr/lib/python3/dist-packages")
from osgeo import gdal  # noqa: E402

gdal.UseExceptions()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("scene")
    ap.add_argument("output")
    ap.add_argument("--stride", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    t0 = time.time()

    meta = {p.key: p.value for p in onnx.load(args.model, load_external_data=False).metadata_props}
    card = json.loads(meta["geomaml.card"])
    tile = card["spec"]["tile_size"]
    ids = np.array([c["id"] for c in card["classes"]], dtype=np.uint8)
    session = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])

    ds = gdal.Open(args.scene)
    w, h = ds.RasterXSize, ds.RasterYSize
    names = [ds.GetRasterBand(b + 1).GetDescription() for b in range(ds.RasterCount)]
    planes = []
    for name, norm in zip(card["bands"], card["normalisation"]):
        band = ds.GetRasterBand(names.index(name) + 1)
        raw = np.frombuffer(band.ReadRaster(0, 0, w, h, buf_type=gdal.GDT_Float32), dtype=np.float32).reshape(h, w)
        x = raw * norm["scale"] + norm["offset"]
        x[~np.isfinite(x)] = 0
        planes.append(x)
    # Pad so every window centred on a stride cell is inside the array.
    s = args.stride
    ow, oh = -(-w // s), -(-h // s)
    off = (s - tile) // 2
    pad = max(0, -off)
    image = np.pad(np.stack(planes), ((0, 0), (pad, pad + tile), (pad, pad + tile)))

    classes = np.zeros((oh, ow), dtype=np.uint8)
    cells = [(i, j) for i in range(oh) for j in range(ow)]
    for k in range(0, len(cells), args.batch_size):
        chunk = cells[k:k + args.batch_size]
        batch = np.stack([image[:, i * s + off + pad:i * s + off + pad + tile, j * s + off + pad:j * s + off + pad + tile]
                          for i, j in chunk]).astype(np.float32)
        probs = session.run(["probabilities"], {"input": batch})[0]
        for (i, j), c in zip(chunk, probs.argmax(axis=1)):
            classes[i, j] = ids[c]

    gt = ds.GetGeoTransform()
    out = gdal.GetDriverByName("GTiff").Create(args.output, ow, oh, 1, gdal.GDT_Byte, ["TILED=YES", "COMPRESS=DEFLATE"])
    out.SetGeoTransform((gt[0], gt[1] * s, gt[2] * s, gt[3], gt[4] * s, gt[5] * s))
    out.SetProjection(ds.GetProjection())
    out.GetRasterBand(1).WriteRaster(0, 0, ow, oh, classes.tobytes())
    out = None
    print(json.dumps({"windows": len(cells), "seconds": time.time() - t0}), file=sys.stderr)


if __name__ == "__main__":
    main()
