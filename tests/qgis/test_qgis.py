#!/usr/bin/python3
"""geomaml in real QGIS (Debian's python3-qgis, headless): the GEOMAML GDAL driver's
layers and the Processing provider of plugin/qgis.

    /usr/bin/python3 tests/qgis/test_qgis.py        (make qgis-test; part of make test)

Needs target/release/geomaml and target/gdalplugins/gdal_GeoMAML.so (make plugin).
With GEOMAML_QGIS_SCREENSHOT=FILE.png the Processing map is also rendered to FILE.
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "target", "release", "geomaml")
PLUGINS = os.path.join(ROOT, "target", "gdalplugins")
SCENE = os.path.join(ROOT, "sample_data", "scene", "scene.tif")
TRUTH = os.path.join(ROOT, "sample_data", "scene", "truth.tif")
LABELS = os.path.join(ROOT, "sample_data", "scene", "labels.geojson")

# Before GDAL and QGIS start: the driver, the executable, no display.
os.environ["GDAL_DRIVER_PATH"] = PLUGINS
os.environ["GEOMAML_BIN"] = BIN
os.environ["QT_QPA_PLATFORM"] = "offscreen"
# QGIS computes statistics of the layers it opens; GDAL would save them beside
# sample_data's files.
os.environ["GDAL_PAM_ENABLED"] = "NO"
os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
sys.dont_write_bytecode = True
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="geomaml-qgis-runtime-"))
sys.path.insert(0, os.path.join(ROOT, "plugin", "qgis"))
sys.path.append("/usr/share/qgis/python/plugins")

from osgeo import gdal  # noqa: E402
from qgis.core import (  # noqa: E402
    QgsApplication,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsPointXY,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProject,
    QgsRaster,
    QgsRasterLayer,
)
from qgis.PyQt.QtCore import QSize  # noqa: E402
from qgis.PyQt.QtGui import QColor  # noqa: E402

gdal.UseExceptions()
APP = QgsApplication([], False)
APP.initQgis()

import processing  # noqa: E402
from processing.core.Processing import Processing  # noqa: E402

from geomaml_processing.provider import GeomamlProvider  # noqa: E402

Processing.initialize()
PROVIDER = GeomamlProvider()
QgsApplication.processingRegistry().addProvider(PROVIDER)


def geomaml(*args):
    """Runs the CLI; returns stdout."""
    out = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True)
    if out.returncode != 0:
        raise AssertionError(f"geomaml {' '.join(map(str, args))} failed: {out.stderr}")
    return out.stdout


def pixels(path):
    """Band 1 of a raster as bytes (the dataset is kept referenced while read)."""
    ds = gdal.Open(path)
    data = ds.GetRasterBand(1).ReadRaster()
    del ds
    return data


def render(layer, size):
    """The layer rendered over its full extent into a `size` image."""
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(layer.crs())
    settings.setExtent(layer.extent())
    settings.setOutputSize(QSize(*size))
    settings.setBackgroundColor(QColor(0, 0, 0, 0))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    return job.renderedImage()


def colours(image):
    """The set of opaque colours of an image, as '#rrggbb'."""
    seen = set()
    for y in range(image.height()):
        for x in range(image.width()):
            c = image.pixelColor(x, y)
            if c.alpha() == 255:
                seen.add(c.name())
    return seen


class Fixture:
    """A pretrained checkpoint on sample_data's Sen12MS tree (30 steps on CPU),
    its ONNX export, and `geomaml map` of the sample scene with it."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="geomaml-qgis-")
        catalog = self.path("catalog.json")
        geomaml("catalog", os.path.join(ROOT, "sample_data", "sen12ms"), "--tile-size", 16, "-o", catalog)
        self.checkpoint = self.path("pretrain.safetensors")
        geomaml(
            "train", catalog, "--method", "pretrain", "--val-every", 0, "--device", "cpu",
            "--steps", 30, "--seed", 1, "-o", self.checkpoint,
        )
        self.model = self.path("pretrain.onnx")
        geomaml("export", self.checkpoint, "-o", self.model)
        self.card = json.loads(geomaml("info", "--json", self.model))
        self.cli_map = self.path("cli_map.tif")
        geomaml("map", "--model", self.model, SCENE, "-o", self.cli_map)

    def path(self, name):
        return os.path.join(self.dir, name)


FIX = None


def setUpModule():  # noqa: N802 (unittest's name)
    global FIX
    for need in (BIN, os.path.join(PLUGINS, "gdal_GeoMAML.so")):
        if not os.path.exists(need):
            raise unittest.SkipTest(f"{need} is missing: run make plugin (which builds both)")
    FIX = Fixture()


class MapFiles(unittest.TestCase):
    """`geomaml map` files as QGIS layers: the style beside them lists exactly the
    map's classes, in the analyst's own names when the model was adapted on them."""

    def legend(self, path):
        layer = QgsRasterLayer(path, "map", "gdal")
        self.assertTrue(layer.isValid(), path)
        self.assertEqual(type(layer.renderer()).__name__, "QgsPalettedRasterRenderer")
        return [(c.value, c.label, c.color.name()) for c in layer.renderer().classes()]

    def test_a_map_lists_exactly_its_classes(self):
        # Without the style QGIS lists all 256 entries of the GeoTIFF's palette.
        self.assertEqual(
            self.legend(FIX.cli_map),
            [(c["id"], c["name"], c["color"]) for c in FIX.card["classes"]],
        )

    def test_an_adapted_map_lists_the_analysts_own_classes(self):
        # The sample labels under a survey's own names, one of them new to the model.
        with open(LABELS) as f:
            labels = json.load(f)
        names = {"Forest": "forest", "Croplands": "fields", "Grassland": "meadow"}
        for feature in labels["features"]:
            c = feature["properties"]["class"]
            feature["properties"]["class"] = names.get(c, "other " + c.lower())
        own = FIX.path("own_labels.geojson")
        with open(own, "w") as f:
            json.dump(labels, f)
        model, out = FIX.path("own.onnx"), FIX.path("own_map.tif")
        geomaml(
            "adapt", "--model", FIX.checkpoint, "--scene", SCENE, "--labels", own,
            "--no-cross-validation", "-o", model,
        )
        geomaml("map", "--model", model, SCENE, "-o", out)
        card = json.loads(geomaml("info", "--json", model))
        want = [(c["id"], c["name"], c["color"]) for c in card["classes"]]
        self.assertEqual(self.legend(out), want)
        self.assertIn("meadow", [w[1] for w in want])
        self.assertIn("Forest", [w[1] for w in want])


class DriverLayers(unittest.TestCase):
    """A GEOMAML descriptor as a QGIS layer."""

    def setUp(self):
        self.descriptor = FIX.path("map.geomaml")
        with open(self.descriptor, "w") as f:
            json.dump({"model": FIX.model, "scene": SCENE}, f)
        self.layer = QgsRasterLayer(self.descriptor, "geomaml", "gdal")
        # (The layer's error() is only asked for when it is invalid: the PyQGIS 3.22
        # binding of an error of a valid layer crashes.)
        if not self.layer.isValid():
            self.fail(f"QGIS did not open {self.descriptor}")

    def test_layer_has_the_map_grid_and_the_models_palette(self):
        ds = gdal.Open(FIX.cli_map)
        self.assertEqual((self.layer.width(), self.layer.height()), (ds.RasterXSize, ds.RasterYSize))
        self.assertEqual(self.layer.crs().authid(), "EPSG:" + ds.GetSpatialRef().GetAuthorityCode(None))
        del ds
        self.assertEqual(type(self.layer.renderer()).__name__, "QgsPalettedRasterRenderer")
        by_value = {c.value: (c.label, c.color.name()) for c in self.layer.renderer().classes()}
        for c in FIX.card["classes"]:
            self.assertEqual(by_value[c["id"]], (c["name"], c["color"]))

    def test_render_shows_only_the_models_colours(self):
        image = render(self.layer, (self.layer.width(), self.layer.height()))
        seen = colours(image)
        want = {c["color"] for c in FIX.card["classes"]}
        self.assertTrue(seen, "the rendered image is empty")
        self.assertTrue(seen <= want, f"colours not in the model: {seen - want}")
        # At least two classes are visible on the sample scene.
        self.assertGreaterEqual(len(seen), 2)

    def test_identify_returns_the_class_geomaml_map_wrote(self):
        data = pixels(FIX.cli_map)
        ds = gdal.Open(FIX.cli_map)
        nodata = int(ds.GetRasterBand(1).GetNoDataValue())
        del ds
        w = self.layer.width()
        e = self.layer.extent()
        px = e.width() / w
        checked = 0
        for (col, row) in [(5, 7), (30, 12), (50, 50), (63, 1)]:
            want = data[row * w + col]
            point = QgsPointXY(e.xMinimum() + (col + 0.5) * px, e.yMaximum() - (row + 0.5) * px)
            result = self.layer.dataProvider().identify(point, QgsRaster.IdentifyFormatValue)
            self.assertTrue(result.isValid())
            got = result.results()[1]
            if want == nodata:
                self.assertIsNone(got)
            else:
                self.assertEqual(int(got), want, f"pixel ({col}, {row})")
            checked += 1
        self.assertEqual(checked, 4)

    def test_overviews_exist_and_render_zoomed_out(self):
        # The dataset QGIS opened (its source) has overview levels.
        ds = gdal.Open(self.layer.source())
        band = ds.GetRasterBand(1)
        sizes = [(band.GetOverview(i).XSize, band.GetOverview(i).YSize) for i in range(band.GetOverviewCount())]
        del band, ds
        self.assertEqual(sizes, [(32, 32)])
        # Zoomed out 8x renders from an overview with the same colours.
        image = render(self.layer, (self.layer.width() // 8, self.layer.height() // 8))
        seen = colours(image)
        self.assertTrue(seen, "the zoomed-out image is empty")
        self.assertTrue(seen <= {c["color"] for c in FIX.card["classes"]})


class ProcessingAlgorithms(unittest.TestCase):
    """The geomaml Processing provider, run as the toolbox runs it."""

    def run_alg(self, name, params):
        context = QgsProcessingContext()
        context.setProject(QgsProject.instance())
        feedback = QgsProcessingFeedback()
        return processing.run(f"geomaml:{name}", params, context=context, feedback=feedback)

    def test_provider_lists_the_algorithms(self):
        names = sorted(a.name() for a in PROVIDER.algorithms())
        self.assertEqual(names, ["adaptandmap", "assess", "livelayer", "map", "modelcard"])

    def test_map_equals_geomaml_map(self):
        out = FIX.path("processing_map.tif")
        result = self.run_alg("map", {"INPUT": SCENE, "MODEL": FIX.model, "OUTPUT": out})
        self.assertEqual(result["OUTPUT"], out)
        self.assertEqual(pixels(out), pixels(FIX.cli_map))

    def test_the_confidence_floor_is_the_clis(self):
        out, cli = FIX.path("processing_floor.tif"), FIX.path("cli_floor.tif")
        params = {"INPUT": SCENE, "MODEL": FIX.model, "MIN_CONFIDENCE": 30, "OUTPUT": out}
        self.run_alg("map", params)
        geomaml("map", "--model", FIX.model, SCENE, "--min-confidence", "30", "-o", cli)
        self.assertEqual(pixels(out), pixels(cli))
        # Some cells of the plain map are below the floor, so the two maps differ.
        self.assertNotEqual(pixels(out), pixels(FIX.cli_map))
        # The live layer with the same floor reads the same map through the driver.
        live = FIX.path("live_floor.geomaml")
        self.run_alg("livelayer", {"INPUT": SCENE, "MODEL": FIX.model, "MIN_CONFIDENCE": 30, "OUTPUT": live})
        copy = FIX.path("live_floor_copy.tif")
        ds = gdal.Translate(copy, live)
        del ds
        self.assertEqual(pixels(copy), pixels(cli))

    def test_adapt_and_map_equals_the_cli_and_is_added_styled(self):
        adapted, out = FIX.path("qgis_adapted.onnx"), FIX.path("qgis_adapted_map.tif")
        project = QgsProject.instance()
        project.removeAllMapLayers()
        context = QgsProcessingContext()
        context.setProject(project)
        result = processing.runAndLoadResults(
            "geomaml:adaptandmap",
            {
                "INPUT": SCENE,
                "LABELS": LABELS,
                "MODEL": FIX.checkpoint,
                "CLASS_FIELD": "class",
                "STRIDE": 8,
                "CONFIDENCE": True,
                "ADAPTED_MODEL": adapted,
                "OUTPUT": out,
            },
            context=context,
            feedback=QgsProcessingFeedback(),
        )
        # The default inner steps (at least 20) give an estimate that means something
        # (one step of the card's anti-predicted every held-out label: 0.0).
        self.assertTrue(0.3 <= result["ESTIMATED_ACCURACY"] <= 1.0, result["ESTIMATED_ACCURACY"])
        self.assertTrue(os.path.isfile(result["CONFIDENCE_MAP"]))
        # The confidence raster is added to the project beside the map.
        confidence = [l for l in project.mapLayers().values() if l.source() == result["CONFIDENCE_MAP"]]
        self.assertEqual(len(confidence), 1)
        cli_model, cli_out = FIX.path("cli_adapted.onnx"), FIX.path("cli_adapted_map.tif")
        geomaml(
            "adapt", "--model", FIX.checkpoint, "--scene", SCENE, "--labels", LABELS,
            "--class-field", "class", "-o", cli_model,
        )
        geomaml("map", "--model", cli_model, "--stride", 8, SCENE, "-o", cli_out)
        self.assertEqual(pixels(out), pixels(cli_out))
        # Added to the project, styled with exactly the model's classes.
        layers = [l for l in project.mapLayers().values() if l.source() == out]
        self.assertEqual(len(layers), 1)
        renderer = layers[0].renderer()
        self.assertEqual(type(renderer).__name__, "QgsPalettedRasterRenderer")
        card = json.loads(geomaml("info", "--json", adapted))
        self.assertEqual(
            [(c.value, c.label, c.color.name()) for c in renderer.classes()],
            [(c["id"], c["name"], c["color"]) for c in card["classes"]],
        )
        shot = os.environ.get("GEOMAML_QGIS_SCREENSHOT")
        if shot:
            image = render(layers[0], (512, 512))
            self.assertTrue(image.save(shot))

    def test_adapt_and_map_offers_the_inner_loop_and_agrees_with_the_cli(self):
        alg = QgsApplication.processingRegistry().algorithmById("geomaml:adaptandmap")
        steps = alg.parameterDefinition("INNER_STEPS")
        self.assertIsNotNone(steps)
        self.assertTrue(steps.flags() & steps.FlagOptional)
        self.assertIsNotNone(alg.parameterDefinition("INNER_LR"))
        # Left empty, the steps are geomaml's default, which the card states.
        info = geomaml("info", FIX.checkpoint)
        self.assertIn("adapt takes 20 steps", info)
        adapted, out = FIX.path("steps_adapted.onnx"), FIX.path("steps_map.tif")
        self.run_alg(
            "adaptandmap",
            {
                "INPUT": SCENE, "LABELS": LABELS, "MODEL": FIX.checkpoint, "CLASS_FIELD": "class",
                "INNER_STEPS": 3, "STRIDE": 8, "ADAPTED_MODEL": adapted, "OUTPUT": out,
            },
        )
        card = json.loads(geomaml("info", "--json", adapted))
        self.assertLessEqual(card["adaptation"]["inner_steps"], 3)

    def test_raster_outputs_are_geotiff_only(self):
        self.assertEqual(PROVIDER.supportedOutputRasterLayerExtensions(), ["tif"])

    def test_cancelling_adapt_and_map_while_mapping_leaves_no_temporary_model(self):
        from qgis.core import QgsProcessing, QgsProcessingUtils

        big = FIX.path("big_scene_adapt.tif")
        ds = gdal.Translate(big, SCENE, width=1536, height=1536, resampleAlg="bilinear")
        del ds
        temp = QgsProcessingUtils.tempFolder()

        def models():
            return {
                os.path.join(root, f) for root, _, files in os.walk(temp) for f in files if f.endswith(".onnx")
            }

        before = models()
        feedback = QgsProcessingFeedback()
        seen = []

        def progressed(p):
            seen.append(p)
            if p > 40:  # adaptation done (0-40), mapping under way
                feedback.cancel()

        feedback.progressChanged.connect(progressed)
        context = QgsProcessingContext()
        context.setProject(QgsProject.instance())
        folder = tempfile.mkdtemp(prefix="geomaml-cancel-adapt-")
        with self.assertRaises(QgsProcessingException):
            processing.run(
                "geomaml:adaptandmap",
                {
                    "INPUT": big, "LABELS": LABELS, "MODEL": FIX.checkpoint, "CLASS_FIELD": "class",
                    "INNER_STEPS": 2, "ADAPTED_MODEL": QgsProcessing.TEMPORARY_OUTPUT,
                    "OUTPUT": os.path.join(folder, "map.tif"),
                },
                context=context,
                feedback=feedback,
            )
        self.assertTrue(any(p > 40 for p in seen), seen)
        self.assertEqual(models() - before, set())
        self.assertEqual(os.listdir(folder), [])

    def test_live_layer_with_other_bands_says_geomamls_reason(self):
        wrong = FIX.path("live_wrong_bands.tif")
        ds = gdal.Translate(wrong, SCENE, bandList=[1, 2, 3])
        del ds
        out = FIX.path("live_wrong.geomaml")
        with self.assertRaises(QgsProcessingException) as caught:
            self.run_alg("livelayer", {"INPUT": wrong, "MODEL": FIX.model, "OUTPUT": out})
        message = str(caught.exception)
        # The driver's own error (geomaml's message), not a pointer to the CLI.
        self.assertIn("bands do not match the model", message)
        self.assertIn("live_wrong_bands.tif", message)
        self.assertNotIn("run geomaml map", message)
        self.assertFalse(os.path.exists(out))

    def test_the_missing_executable_hint_names_the_build_that_makes_it(self):
        from geomaml_processing import runner

        saved = os.environ.pop("GEOMAML_BIN")
        path = os.environ.get("PATH", "")
        os.environ["PATH"] = "/nonexistent"
        try:
            with self.assertRaises(QgsProcessingException) as caught:
                runner.executable()
        finally:
            os.environ["GEOMAML_BIN"] = saved
            os.environ["PATH"] = path
        self.assertIn("make cli", str(caught.exception))
        self.assertIn("cargo build --release -p geomaml-cli", str(caught.exception))

    def test_live_layer_is_a_descriptor_whose_style_lists_only_the_models_classes(self):
        out = FIX.path("live.geomaml")
        result = self.run_alg("livelayer", {"INPUT": SCENE, "MODEL": FIX.model, "OUTPUT": out})
        self.assertEqual(result["OUTPUT"], out)
        self.assertTrue(os.path.isfile(FIX.path("live.qml")))
        # Opened again later, as a user adds it: QGIS loads the style beside it.
        layer = QgsRasterLayer(out, "live", "gdal")
        self.assertTrue(layer.isValid())
        self.assertEqual(
            [(c.value, c.label, c.color.name()) for c in layer.renderer().classes()],
            [(c["id"], c["name"], c["color"]) for c in FIX.card["classes"]],
        )
        copy = FIX.path("live_copy.tif")
        ds = gdal.Translate(copy, out)
        del ds
        self.assertEqual(pixels(copy), pixels(FIX.cli_map))

    def test_assess_reports_the_clis_numbers(self):
        html = FIX.path("assessment.html")
        result = self.run_alg("assess", {"INPUT": FIX.cli_map, "REFERENCE_RASTER": TRUTH, "OUTPUT_HTML": html})
        cli = json.loads(geomaml("assess", "--json", FIX.cli_map, "--reference", TRUTH))
        self.assertAlmostEqual(result["OVERALL_ACCURACY"], cli["overall_accuracy"], places=12)
        self.assertAlmostEqual(result["KAPPA"], cli["kappa"], places=12)
        with open(html, encoding="utf-8") as f:
            text = f.read()
        self.assertIn(f"{100 * cli['overall_accuracy']:.1f} %", text)
        # Against the label points instead.
        result = self.run_alg("assess", {"INPUT": FIX.cli_map, "REFERENCE_LABELS": LABELS, "OUTPUT_HTML": html})
        cli = json.loads(geomaml("assess", "--json", FIX.cli_map, "--reference", LABELS))
        self.assertAlmostEqual(result["OVERALL_ACCURACY"], cli["overall_accuracy"], places=12)

    def test_model_card_lists_classes_and_bands(self):
        result = self.run_alg("modelcard", {"MODEL": FIX.model, "OUTPUT_HTML": FIX.path("card.html")})
        self.assertEqual(result["BANDS"], ", ".join(FIX.card["bands"]))
        self.assertEqual(result["CLASSES"], ", ".join(f"{c['id']}={c['name']}" for c in FIX.card["classes"]))

    def test_geomaml_errors_reach_the_user_and_nothing_is_written(self):
        wrong = FIX.path("wrong_bands.tif")
        gdal.Translate(wrong, SCENE, bandList=[1, 2, 3])
        out = FIX.path("never.tif")
        with self.assertRaises(QgsProcessingException) as caught:
            self.run_alg("map", {"INPUT": wrong, "MODEL": FIX.model, "OUTPUT": out})
        self.assertIn("bands", str(caught.exception))
        self.assertIn("wrong_bands.tif", str(caught.exception))
        self.assertFalse(os.path.exists(out))

    def test_cancelling_stops_geomaml_without_output(self):
        from geomaml_processing import runner

        # A scene of several blocks; cancelled once the first block is reported.
        big = FIX.path("big_scene.tif")
        ds = gdal.Translate(big, SCENE, width=1536, height=1536, resampleAlg="bilinear")
        del ds
        feedback = QgsProcessingFeedback()
        seen = []

        def progressed(p):
            seen.append(p)
            if p > 0:
                feedback.cancel()

        feedback.progressChanged.connect(progressed)
        folder = tempfile.mkdtemp(prefix="geomaml-cancel-")
        out = os.path.join(folder, "cancelled.tif")
        with self.assertRaises(QgsProcessingException) as caught:
            runner.run(["map", "--model", FIX.model, big, "-o", out], feedback)
        self.assertIn("cancelled", str(caught.exception))
        self.assertTrue(seen and 0 < seen[0] < 100, seen)
        # Neither the map nor a temporary file is left behind.
        self.assertEqual(os.listdir(folder), [])

    def test_failure_messages_are_geomamls_error_not_a_warning(self):
        from geomaml_processing import runner

        lines = ["geomaml: warning: x", "geomaml: scene.tif: bands do not match", "more"]
        self.assertEqual(runner.failure_message(lines, 1), "geomaml: scene.tif: bands do not match")
        usage = ["error: unexpected argument '--nope' found", "", "For more information, try '--help'."]
        self.assertEqual(runner.failure_message(usage, 2), usage[0])
        self.assertEqual(runner.failure_message([], 101), "geomaml stopped with exit status 101")


class PluginInstall(unittest.TestCase):
    def test_the_zip_installs_as_a_qgis_plugin_with_its_provider(self):
        """`make qgis-plugin`'s zip, unpacked into a plugin folder, loads through
        QGIS's own plugin loader and registers the provider (in a fresh process,
        as this one already has the provider)."""
        subprocess.run(["make", "-s", "-C", ROOT, "qgis-plugin"], check=True, capture_output=True)
        plugins = tempfile.mkdtemp(prefix="geomaml-qgis-plugins-")
        import zipfile

        with zipfile.ZipFile(os.path.join(ROOT, "target", "geomaml_processing.zip")) as z:
            z.extractall(plugins)
        script = f"""
import os, sys
sys.path.insert(0, {plugins!r})
from qgis.core import QgsApplication
app = QgsApplication([], False); app.initQgis()
from osgeo import gdal
# GDAL_DRIVER_PATH is not set here: starting the plugin registers the driver found
# beside the executable, so saved live layers open.
assert gdal.GetDriverByName("GEOMAML") is None
import qgis.utils
qgis.utils.plugin_paths.insert(0, {plugins!r})
qgis.utils.updateAvailablePlugins()
assert qgis.utils.loadPlugin("geomaml_processing"), "not loaded"
assert qgis.utils.startProcessingPlugin("geomaml_processing"), "not started"
p = QgsApplication.processingRegistry().providerById("geomaml")
print(sorted(a.id() for a in p.algorithms()))
assert gdal.GetDriverByName("GEOMAML") is not None, "driver not registered at start"
sys.path.append("/usr/share/qgis/python/plugins")
import processing
from processing.core.Processing import Processing
Processing.initialize()
r = processing.run("geomaml:livelayer", {{"INPUT": {SCENE!r}, "MODEL": {FIX.model!r},
                                          "OUTPUT": os.path.join({plugins!r}, "live.geomaml")}})
print("live", gdal.Open(r["OUTPUT"]).GetDriver().ShortName)
"""
        env = {k: v for k, v in os.environ.items() if k != "GDAL_DRIVER_PATH"}
        out = subprocess.run(["/usr/bin/python3", "-c", script], capture_output=True, text=True, env=env)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(
            "['geomaml:adaptandmap', 'geomaml:assess', 'geomaml:livelayer', 'geomaml:map', 'geomaml:modelcard']",
            out.stdout,
        )
        self.assertIn("live GEOMAML", out.stdout)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    QgsApplication.processingRegistry().removeProvider(PROVIDER)
    APP.exitQgis()
    sys.exit(0 if result.wasSuccessful() else 1)
