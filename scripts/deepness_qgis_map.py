#!/usr/bin/env python3
"""Maps a scene with the Deepness QGIS plugin's own map processor, in real (headless)
QGIS, and compares its map with `geomaml map`'s.

    PYTHON scripts/deepness_qgis_map.py DEEPNESS_SRC MODEL.onnx SCENE.tif GEOMAML_MAP.tif [--truth TRUTH.tif]

DEEPNESS_SRC is the `src` folder of a checkout of PUTvision/qgis-plugin-deepness;
MODEL the export Deepness runs (`geomaml export --deepness` for a CNN, the plain
export for a U-Net); GEOMAML_MAP the map `geomaml map` wrote with the matching
native export. PYTHON needs QGIS's bindings (Debian's python3-qgis), numpy,
onnxruntime and opencv, e.g. a venv made with `python3 -m venv
--system-site-packages` plus `pip install onnxruntime==1.17.3
opencv-python-headless==4.8.1.78`.

Deepness is run as its "Load default parameters" button sets it up: resolution,
tile size, overlap, probability threshold and small-segment filter from the model's
metadata, every model input mapped to the scene band at the same position, the
entire layer. Prints JSON: the parameters used, the share of scene pixels where
Deepness's class equals geomaml's (geomaml's classifier map read at each scene
pixel), and with --truth both maps' accuracy against the truth.
"""
import argparse
import json
import os
import sys
from unittest.mock import MagicMock

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

p = argparse.ArgumentParser()
p.add_argument("deepness_src")
p.add_argument("model")
p.add_argument("scene")
p.add_argument("geomaml_map")
p.add_argument("--truth")
a = p.parse_args()
sys.path.insert(0, a.deepness_src)

import numpy as np  # noqa: E402
from osgeo import gdal  # noqa: E402
from qgis.core import QgsApplication, QgsProject, QgsRasterLayer  # noqa: E402

app = QgsApplication([], False)
app.initQgis()

from deepness.common.channels_mapping import ChannelsMapping, ImageChannelStandaloneBand  # noqa: E402
from deepness.common.processing_overlap import ProcessingOverlap, ProcessingOverlapOptions  # noqa: E402
from deepness.common.processing_parameters.map_processing_parameters import ProcessedAreaType  # noqa: E402
from deepness.common.processing_parameters.segmentation_parameters import SegmentationParameters  # noqa: E402
from deepness.processing.map_processor.map_processor_segmentation import MapProcessorSegmentation  # noqa: E402
from deepness.processing.models.segmentor import Segmentor  # noqa: E402

layer = QgsRasterLayer(a.scene, "scene", "gdal")
if not layer.isValid():
    sys.exit(f"QGIS cannot open {a.scene}")
QgsProject.instance().addMapLayer(layer)
model = Segmentor(a.model)

# "Load default parameters": what Deepness reads from the model's metadata.
defaults = {
    "model_type": model.get_metadata_model_type(),
    "resolution_cm_per_px": model.get_metadata_resolution(),
    "tile_size": model.get_metadata_tile_size(),
    "tiles_overlap_percent": model.get_metadata_tiles_overlap(),
    "seg_thresh": model.get_metadata_segmentation_threshold(),
    "seg_small_segment": model.get_metadata_segmentation_small_segment(),
    "class_names": model.get_outputs_channel_names(),
}
mapping = ChannelsMapping()
mapping.set_number_of_model_inputs(model.get_number_of_channels())
mapping.set_image_channels(
    [ImageChannelStandaloneBand(b, f"band {b}") for b in range(1, layer.bandCount() + 1)]
)
for i in range(model.get_number_of_channels()):
    mapping.set_image_channel_for_model_input(i, i)

params = SegmentationParameters(
    resolution_cm_per_px=defaults["resolution_cm_per_px"],
    tile_size_px=defaults["tile_size"],
    batch_size=16,
    local_cache=False,
    processed_area_type=ProcessedAreaType.ENTIRE_LAYER,
    mask_layer_id=None,
    input_layer_id=layer.id(),
    input_channels_mapping=mapping,
    postprocessing_dilate_erode_size=defaults["seg_small_segment"],
    processing_overlap=ProcessingOverlap(
        ProcessingOverlapOptions.OVERLAP_IN_PERCENT, percentage=defaults["tiles_overlap_percent"]
    ),
    pixel_classification__probability_threshold=defaults["seg_thresh"],
    model=model,
)
processor = MapProcessorSegmentation(rlayer=layer, vlayer_mask=None, map_canvas=MagicMock(), params=params)
processor.run()
result = processor.get_result_img()[0]  # class index + 1, 0 where not processed


def read(path):
    ds = gdal.Open(path)
    band = ds.GetRasterBand(1)
    data = np.frombuffer(band.ReadRaster(), dtype=np.uint8).reshape(ds.RasterYSize, ds.RasterXSize)
    nodata = band.GetNoDataValue()
    gt = ds.GetGeoTransform()
    del band, ds
    return data, nodata, gt


scene = gdal.Open(a.scene)
sw, sh, sgt = scene.RasterXSize, scene.RasterYSize, scene.GetGeoTransform()
del scene
classes = json.loads(gdal.Info(a.geomaml_map, format="json")["metadata"][""]["GEOMAML_CLASSES"])
class_ids = np.array([c["id"] for c in classes], dtype=np.int32)
# Deepness's grid: the scene's extent at the model's resolution (here the scene's).
if result.shape != (sh, sw):
    sys.exit(f"Deepness's map is {result.shape[::-1]} px, the scene {sw} x {sh}: compare on another grid")
deepness = np.where(result > 0, class_ids[np.clip(result - 1, 0, len(class_ids) - 1)], -1)

gm, gnodata, ggt = read(a.geomaml_map)
# geomaml's map at every scene pixel centre (its grid is the scene's, coarser).
cols = ((sgt[0] + (np.arange(sw) + 0.5) * sgt[1] - ggt[0]) / ggt[1]).astype(int)
rows = ((sgt[3] + (np.arange(sh) + 0.5) * sgt[5] - ggt[3]) / ggt[5]).astype(int)
ours = gm[np.clip(rows, 0, gm.shape[0] - 1)][:, np.clip(cols, 0, gm.shape[1] - 1)].astype(np.int32)
valid = (ours != gnodata) & (deepness >= 0)
report = {
    "deepness_defaults": defaults,
    "pixels_compared": int(valid.sum()),
    "agreement": float((ours[valid] == deepness[valid]).mean()),
}
if a.truth:
    truth, tnodata, _ = read(a.truth)
    t = truth.astype(np.int32)
    ok = valid & (t != tnodata)
    report["accuracy_geomaml"] = float((ours[ok] == t[ok]).mean())
    report["accuracy_deepness"] = float((deepness[ok] == t[ok]).mean())
    report["truth_pixels"] = int(ok.sum())
print(json.dumps(report, indent=2))
app.exitQgis()
