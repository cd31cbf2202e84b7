#!/usr/bin/env python3
"""Loads geomaml models with the Deepness QGIS plugin's own model code and compares
its predictions with geomaml's, tile by tile.

    scripts/deepness_check.py DEEPNESS_SRC DEEPNESS_MODEL.onnx NATIVE_MODEL.onnx SCENE.tif [--tiles 64]

DEEPNESS_SRC is the `src` folder of a checkout of PUTvision/qgis-plugin-deepness
(its model classes need numpy and onnxruntime, not QGIS). DEEPNESS_MODEL is the
export Deepness runs (`geomaml export --deepness` for a CNN, the plain export for a
U-Net), NATIVE_MODEL the export geomaml maps with. The script prints, as JSON:
what Deepness reads from the metadata ("Load default parameters"), and the share
of tiles (CNN) or pixels (U-Net) where Deepness's class equals geomaml's on random
tiles of SCENE fed as Deepness feeds them (raw values, band order by position),
plus the same with NaN written into every tile.

Needs GDAL's Python bindings, numpy and onnxruntime (run with /usr/bin/python3
and PYTHONPATH pointing at the setup venv's site-packages).
"""
import argparse, json, sys

import numpy as np
import onnxruntime as ort
from osgeo import gdal

p = argparse.ArgumentParser()
p.add_argument("deepness_src")
p.add_argument("deepness_model")
p.add_argument("native_model")
p.add_argument("scene")
p.add_argument("--tiles", type=int, default=64)
a = p.parse_args()

sys.path.insert(0, a.deepness_src)
from deepness.processing.models.segmentor import Segmentor  # noqa: E402

m = Segmentor(a.deepness_model)
read = {
    "model_type": m.get_metadata_model_type(),
    "model_type_is_segmentor": m.get_metadata_model_type() == Segmentor.get_class_display_name(),
    "class_names": m.get_outputs_channel_names(),
    "output_channels": m.get_number_of_output_channels(),
    "tile_size": m.get_metadata_tile_size(),
    "tiles_overlap": m.get_metadata_tiles_overlap(),
    "resolution_cm": m.get_metadata_resolution(),
    "seg_thresh": m.get_metadata_segmentation_threshold(),
    "seg_small_segment": m.get_metadata_segmentation_small_segment(),
    "input_shape": list(m.get_input_shape()),
}

native = ort.InferenceSession(a.native_model, providers=["CPUExecutionProvider"])
card = json.loads(native.get_modelmeta().custom_metadata_map["geomaml.card"])
scale = np.array([n["scale"] for n in card["normalisation"]], dtype=np.float32)
offset = np.array([n["offset"] for n in card["normalisation"]], dtype=np.float32)
t = card["spec"]["tile_size"]
segmentation = card["spec"]["arch"].lower() == "unet"

ds = gdal.Open(a.scene)
bands = len(card["bands"])
# ReadRaster, not ReadAsArray: the setup venv's numpy may not match GDAL's bindings.
w, h = ds.RasterXSize, ds.RasterYSize
img = np.stack([np.frombuffer(ds.GetRasterBand(b + 1).ReadRaster(buf_type=gdal.GDT_Float32), np.float32).reshape(h, w)
                for b in range(bands)], axis=-1)
rng = np.random.default_rng(0)
ys = rng.integers(0, img.shape[0] - t, a.tiles)
xs = rng.integers(0, img.shape[1] - t, a.tiles)
tiles = np.stack([img[y:y + t, x:x + t] for y, x in zip(ys, xs)])  # N, H, W, C as Deepness reads


def geomaml_classes(nhwc):
    x = np.transpose(nhwc * scale + offset, (0, 3, 1, 2)).astype(np.float32)
    x = np.where(np.isfinite(x), x, 0.0).astype(np.float32)
    return native.run(["probabilities"], {"input": x})[0].argmax(axis=1)


def deepness_classes(nhwc):
    out = m.process(nhwc)[0]  # N, C, H, W probabilities
    return out, out.argmax(axis=1)


def agreement(nhwc):
    out, dn = deepness_classes(nhwc)
    ours = geomaml_classes(nhwc)
    if not segmentation:
        # Deepness's per-pixel classes of a tile classifier are constant per tile.
        constant = bool((dn == dn[:, :1, :1]).all())
        return {"tiles": len(nhwc), "agreement": float((dn[:, 0, 0] == ours).mean()),
                "constant_over_tile": constant, "finite": bool(np.isfinite(out).all())}
    return {"pixels": int(dn.size), "agreement": float((dn == ours).mean()),
            "finite": bool(np.isfinite(out).all())}


with_nan = tiles.copy()
with_nan[:, t // 3, t // 2, :] = np.nan
print(json.dumps({"deepness_reads": read, "plain": agreement(tiles), "with_nan": agreement(with_nan)}, indent=1))
