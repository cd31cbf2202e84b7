"""The Processing algorithms: each one is one or two calls of the geomaml executable
(see runner.py) on the layers and files the user picked.

- Adapt and map: `geomaml adapt` on a raster layer with a point/polygon layer of
  labels, then `geomaml map` with the adapted model; the map is added styled with
  the model's classes.
- Map a raster: `geomaml map` with an ONNX model.
- Assess a map: `geomaml assess --json` against a reference raster or labelled
  points/polygons; an HTML report and the headline numbers.
- Model card: `geomaml info --json`; an HTML page and the classes and bands.
- Live map layer: a `.geomaml` descriptor for the GEOMAML GDAL driver (the map is
  computed when QGIS draws it) with a QGIS style beside it (`.qml`, loaded by QGIS
  with the layer), so the legend lists exactly the model's classes.
"""

import html
import json
import os
import uuid

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingOutputNumber,
    QgsProcessingOutputRasterLayer,
    QgsProcessingOutputString,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingUtils,
    QgsPalettedRasterRenderer,
    QgsRasterLayer,
)
from qgis.PyQt.QtGui import QColor

from . import runner

LABEL_FORMATS = ["gpkg", "geojson", "shp"]


def model_card(path, feedback):
    """The model card of a .safetensors or .onnx model (geomaml info --json)."""
    return json.loads(runner.run(["info", "--json", path], feedback))


def paletted_classes(classes):
    """QGIS palette classes for a card's classes: only the model's classes, in the
    model's colours, so the legend lists exactly them."""
    return [
        QgsPalettedRasterRenderer.Class(int(c["id"]), QColor(c["color"]), c["name"])
        for c in classes
    ]


def apply_style(layer, classes):
    """Gives a map layer a paletted renderer of exactly `classes`."""
    layer.setRenderer(QgsPalettedRasterRenderer(layer.dataProvider(), 1, paletted_classes(classes)))
    layer.triggerRepaint()


class LandCoverStyle(QgsProcessingLayerPostProcessorInterface):
    """Styles a map layer added by an algorithm with the model's classes."""

    def __init__(self, classes):
        super().__init__()
        self.classes = classes

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 (QGIS's name)
        if isinstance(layer, QgsRasterLayer) and layer.isValid():
            apply_style(layer, self.classes)


_STYLERS = []


class GeomamlAlgorithm(QgsProcessingAlgorithm):
    """What every geomaml algorithm shares: group, instance creation, styling."""

    def group(self):
        return "Land cover"

    def groupId(self):  # noqa: N802
        return "landcover"

    def createInstance(self):  # noqa: N802
        return type(self)()

    def style_output(self, path, classes, context):
        """Styles the map at `path` with `classes` when QGIS adds it to the project
        on completion (when the user asked for it to be loaded)."""
        if context.willLoadLayerOnCompletion(path):
            styler = LandCoverStyle(classes)
            # QGIS holds only a pointer to the post-processor, which must outlive
            # this algorithm instance: keep the last few alive here.
            _STYLERS.append(styler)
            del _STYLERS[:-16]
            context.layerToLoadOnCompletionDetails(path).setPostProcessor(styler)

    def map_options(self, parameters, context):
        """`geomaml map` options of the STRIDE, CONFIDENCE and MIN_CONFIDENCE
        parameters."""
        args = []
        if parameters.get("STRIDE") is not None:
            args += ["--stride", self.parameterAsInt(parameters, "STRIDE", context)]
        if self.parameterAsBool(parameters, "CONFIDENCE", context):
            args.append("--confidence")
        floor = self.parameterAsInt(parameters, "MIN_CONFIDENCE", context)
        if floor:
            args += ["--min-confidence", floor]
        return args


def load_confidence(output, context):
    """Adds the confidence raster beside `output` to the project with the map (when
    the map is loaded on completion), so that it is there to look at, not only on
    disk."""
    path = confidence_path(output)
    if context.project() is not None and context.willLoadLayerOnCompletion(output) and os.path.isfile(path):
        stem = os.path.splitext(os.path.basename(output))[0]
        context.addLayerToLoadOnCompletion(
            path, QgsProcessingContext.LayerDetails(f"{stem} confidence", context.project(), "CONFIDENCE_MAP")
        )
    return path


def is_processing_temporary(path):
    """Whether `path` lies in QGIS Processing's temporary folder (an output left
    as "Save to temporary file")."""
    temp = os.path.realpath(QgsProcessingUtils.tempFolder())
    try:
        return os.path.commonpath([os.path.realpath(path), temp]) == temp
    except ValueError:
        return False


def remove_quietly(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def stride_parameter():
    """The optional window step of the mapping algorithms."""
    return QgsProcessingParameterNumber(
        "STRIDE",
        "Window step in scene pixels (default: the model's)",
        QgsProcessingParameterNumber.Integer,
        optional=True,
        minValue=1,
    )


def min_confidence_parameter():
    """The confidence floor of the mapping algorithms (`--min-confidence`)."""
    return QgsProcessingParameterNumber(
        "MIN_CONFIDENCE",
        "Leave cells less sure than this (percent margin of the two likeliest classes) unmapped",
        QgsProcessingParameterNumber.Integer,
        defaultValue=0,
        minValue=0,
        maxValue=100,
    )


def scene_path(alg, parameters, name, context):
    """The GDAL path of a raster layer parameter."""
    layer = alg.parameterAsRasterLayer(parameters, name, context)
    if layer is None:
        raise QgsProcessingException(f"{name}: no raster layer")
    return layer.source()


def confidence_path(map_path):
    """Where `geomaml map --confidence` writes the confidence band."""
    stem, _ = os.path.splitext(map_path)
    return stem + ".confidence.tif"


class AdaptAndMap(GeomamlAlgorithm):
    def name(self):
        return "adaptandmap"

    def displayName(self):  # noqa: N802
        return "Adapt a model to a raster and map it"

    def shortHelpString(self):  # noqa: N802
        return (
            "Adapts a meta-trained geomaml model (.safetensors) to the raster layer from "
            "a few labelled points or polygons (geomaml adapt), writes the adapted model "
            "(ONNX), and maps the raster with it (geomaml map). The raster's bands must "
            "carry the model's band names (or be in the model's order). Inner-loop steps: "
            "left empty, as on the command line: the count meta-validation chose (MAML models), "
            "else the model card's and at least 20; at least 50 for a per-pixel network "
            "started from class prototypes (geomaml info says how many). When the support loss rises (a step size too "
            "large for the scene), the model keeps its best step and the log warns: lower "
            "the inner-loop step size. The estimated accuracy (0-1) is a cross-validation "
            "over the labels on spatially separate folds. The adapted model left as a "
            "temporary file is removed when mapping fails or is cancelled."
        )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", "Scene"))
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                "LABELS",
                "Labelled points or polygons",
                [QgsProcessing.TypeVectorPoint, QgsProcessing.TypeVectorPolygon],
            )
        )
        self.addParameter(
            QgsProcessingParameterField(
                "CLASS_FIELD",
                "Class field (class name or id; default: class, label, ...)",
                parentLayerParameterName="LABELS",
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterFile("MODEL", "Meta-trained model", extension="safetensors")
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "INNER_STEPS",
                "Inner-loop steps (default: as geomaml info says)",
                QgsProcessingParameterNumber.Integer,
                optional=True,
                minValue=1,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "INNER_LR",
                "Inner-loop step size (default: the model card's)",
                QgsProcessingParameterNumber.Double,
                optional=True,
                minValue=0.0,
            )
        )
        self.addParameter(stride_parameter())
        self.addParameter(
            QgsProcessingParameterBoolean("CONFIDENCE", "Also write a confidence raster", False)
        )
        self.addParameter(min_confidence_parameter())
        self.addParameter(
            QgsProcessingParameterFileDestination("ADAPTED_MODEL", "Adapted model", "ONNX (*.onnx)")
        )
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", "Land-cover map"))
        self.addOutput(
            QgsProcessingOutputNumber("ESTIMATED_ACCURACY", "Cross-validated accuracy over the labels (0-1)")
        )
        self.addOutput(QgsProcessingOutputRasterLayer("CONFIDENCE_MAP", "Confidence"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        scene = scene_path(self, parameters, "INPUT", context)
        labels = self.parameterAsCompatibleSourceLayerPath(
            parameters, "LABELS", context, LABEL_FORMATS, "gpkg", feedback
        )
        field = self.parameterAsString(parameters, "CLASS_FIELD", context)
        model = self.parameterAsFile(parameters, "MODEL", context)
        adapted = self.parameterAsFileOutput(parameters, "ADAPTED_MODEL", context)
        if not adapted:
            adapted = os.path.join(QgsProcessingUtils.tempFolder(), f"adapted_{uuid.uuid4().hex}.onnx")
        temporary = is_processing_temporary(adapted)
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        args = ["adapt", "--json", "--overwrite", "--model", model, "--scene", scene, "--labels", labels]
        if field:
            args += ["--class-field", field]
        if parameters.get("INNER_STEPS") is not None:
            args += ["--inner-steps", self.parameterAsInt(parameters, "INNER_STEPS", context)]
        if parameters.get("INNER_LR") is not None:
            args += ["--inner-lr", repr(self.parameterAsDouble(parameters, "INNER_LR", context))]
        try:
            feedback.pushInfo("Adapting the model to the scene")
            report = json.loads(runner.run(args + ["-o", adapted], feedback, span=(0, 40)))
            if feedback.isCanceled():
                raise QgsProcessingException("cancelled")
            feedback.pushInfo("Mapping the scene")
            opts = self.map_options(parameters, context)
            runner.run(
                ["map", "--overwrite", "--model", adapted, scene, "-o", output] + opts, feedback, span=(40, 100)
            )
            classes = model_card(adapted, feedback)["classes"]
        except BaseException:
            # An adapted model in Processing's temporary folder is this run's
            # intermediate file: a failed or cancelled run leaves nothing behind.
            if temporary:
                remove_quietly(adapted)
            raise
        self.style_output(output, classes, context)
        if report.get("support_loss_rose"):
            feedback.pushWarning(
                f"the support loss rose: the model keeps the weights after step {report.get('steps_kept')} "
                f"of {report.get('inner_steps')}; lower the inner-loop step size"
            )
        estimate = report.get("cross_validated_accuracy")
        if estimate:
            feedback.pushInfo(f"estimated accuracy over the labels: {100 * estimate[0]:.1f} % ({estimate[1]} folds)")
        results = {
            "OUTPUT": output,
            "ADAPTED_MODEL": adapted,
            "ESTIMATED_ACCURACY": estimate[0] if estimate else None,
        }
        if "--confidence" in opts:
            results["CONFIDENCE_MAP"] = load_confidence(output, context)
        return results


class MapRaster(GeomamlAlgorithm):
    def name(self):
        return "map"

    def displayName(self):  # noqa: N802
        return "Map a raster with a model"

    def shortHelpString(self):  # noqa: N802
        return (
            "Maps the raster layer with an exported geomaml model (.onnx) into a "
            "land-cover GeoTIFF (geomaml map), styled with the model's classes."
        )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", "Scene"))
        self.addParameter(QgsProcessingParameterFile("MODEL", "Model", extension="onnx"))
        self.addParameter(stride_parameter())
        self.addParameter(
            QgsProcessingParameterBoolean("CONFIDENCE", "Also write a confidence raster", False)
        )
        self.addParameter(min_confidence_parameter())
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", "Land-cover map"))
        self.addOutput(QgsProcessingOutputRasterLayer("CONFIDENCE_MAP", "Confidence"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        scene = scene_path(self, parameters, "INPUT", context)
        model = self.parameterAsFile(parameters, "MODEL", context)
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        opts = self.map_options(parameters, context)
        runner.run(["map", "--overwrite", "--model", model, scene, "-o", output] + opts, feedback)
        self.style_output(output, model_card(model, feedback)["classes"], context)
        results = {"OUTPUT": output}
        if "--confidence" in opts:
            results["CONFIDENCE_MAP"] = load_confidence(output, context)
        return results


def assessment_html(a):
    """An HTML page of a `geomaml assess --json` assessment."""
    names = [c["name"] for c in a["classes"]]
    def num(v, fmt, scale=1):
        # Undefined measures (a class absent from map or reference) are null.
        return "&ndash;" if v is None else format(scale * v, fmt)

    rows = "".join(
        f"<tr><td>{html.escape(n)}</td><td>{p['support']}</td>"
        f"<td>{num(p['producers_accuracy'], '.1f', 100)}</td><td>{num(p['users_accuracy'], '.1f', 100)}</td>"
        f"<td>{num(p['f1'], '.3f')}</td><td>{num(p['iou'], '.3f')}</td></tr>"
        for n, p in zip(names, a["per_class"])
    )
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    confusion = "".join(
        f"<tr><th>{html.escape(n)}</th>" + "".join(f"<td>{v}</td>" for v in row) + "</tr>"
        for n, row in zip(names, a["confusion"]["counts"])
    )
    return f"""<html><head><meta charset="utf-8"><title>geomaml assessment</title></head><body>
<h1>Accuracy of {html.escape(str(a['map']))}</h1>
<p>Reference: {html.escape(str(a['reference']))}; {a['samples']} samples
({a['skipped_nodata']} skipped as nodata, {a['outside_overlap']} outside the overlap).</p>
<table border="1" cellpadding="4">
<tr><th>overall accuracy</th><td>{100 * a['overall_accuracy']:.1f} %</td></tr>
<tr><th>kappa</th><td>{a['kappa']:.3f}</td></tr>
<tr><th>mean IoU</th><td>{a['mean_iou']:.3f}</td></tr>
<tr><th>mean F1</th><td>{a['mean_f1']:.3f}</td></tr></table>
<h2>Per class</h2>
<table border="1" cellpadding="4"><tr><th>class</th><th>support</th><th>producer's %</th>
<th>user's %</th><th>F1</th><th>IoU</th></tr>{rows}</table>
<h2>Confusion (rows: reference, columns: map)</h2>
<table border="1" cellpadding="4"><tr><th></th>{head}</tr>{confusion}</table>
</body></html>
"""


class Assess(GeomamlAlgorithm):
    def name(self):
        return "assess"

    def displayName(self):  # noqa: N802
        return "Assess a map against reference data"

    def shortHelpString(self):  # noqa: N802
        return (
            "Accuracy of a land-cover map (geomaml assess) against a reference class "
            "raster or labelled points/polygons: overall accuracy, kappa, per-class "
            "accuracies and the confusion matrix, as an HTML report."
        )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", "Land-cover map"))
        self.addParameter(
            QgsProcessingParameterRasterLayer("REFERENCE_RASTER", "Reference class raster", optional=True)
        )
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                "REFERENCE_LABELS",
                "Reference points or polygons",
                [QgsProcessing.TypeVectorPoint, QgsProcessing.TypeVectorPolygon],
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterField(
                "CLASS_FIELD",
                "Class field of the reference points/polygons",
                parentLayerParameterName="REFERENCE_LABELS",
                optional=True,
            )
        )
        self.addParameter(QgsProcessingParameterFileDestination("OUTPUT_HTML", "Report", "HTML (*.html)"))
        self.addOutput(QgsProcessingOutputNumber("OVERALL_ACCURACY", "Overall accuracy (0-1)"))
        self.addOutput(QgsProcessingOutputNumber("KAPPA", "Kappa"))
        self.addOutput(QgsProcessingOutputNumber("MEAN_IOU", "Mean IoU"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        map_path = scene_path(self, parameters, "INPUT", context)
        raster = self.parameterAsRasterLayer(parameters, "REFERENCE_RASTER", context)
        has_labels = parameters.get("REFERENCE_LABELS") not in (None, "")
        if (raster is None) == (not has_labels):
            raise QgsProcessingException("give exactly one reference: a class raster or labelled points/polygons")
        args = ["assess", "--json", map_path]
        if raster is not None:
            args += ["--reference", raster.source()]
        else:
            labels = self.parameterAsCompatibleSourceLayerPath(
                parameters, "REFERENCE_LABELS", context, LABEL_FORMATS, "gpkg", feedback
            )
            args += ["--reference", labels]
            field = self.parameterAsString(parameters, "CLASS_FIELD", context)
            if field:
                args += ["--class-field", field]
        a = json.loads(runner.run(args, feedback))
        out = self.parameterAsFileOutput(parameters, "OUTPUT_HTML", context)
        with open(out, "w", encoding="utf-8") as f:
            f.write(assessment_html(a))
        feedback.pushInfo(
            f"overall accuracy {100 * a['overall_accuracy']:.1f} %, kappa {a['kappa']:.3f} ({a['samples']} samples)"
        )
        return {
            "OUTPUT_HTML": out,
            "OVERALL_ACCURACY": a["overall_accuracy"],
            "KAPPA": a["kappa"],
            "MEAN_IOU": a["mean_iou"],
        }


class ModelCard(GeomamlAlgorithm):
    def name(self):
        return "modelcard"

    def displayName(self):  # noqa: N802
        return "Model card"

    def shortHelpString(self):  # noqa: N802
        return "What a geomaml model is (geomaml info): architecture, bands in order, classes, resolution, training."

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(
            QgsProcessingParameterFile(
                "MODEL", "Model (.onnx or .safetensors)", fileFilter="Models (*.onnx *.safetensors)"
            )
        )
        self.addParameter(
            QgsProcessingParameterFileDestination("OUTPUT_HTML", "Card", "HTML (*.html)", optional=True)
        )
        self.addOutput(QgsProcessingOutputString("CLASSES", "Classes (id=name, comma-separated)"))
        self.addOutput(QgsProcessingOutputString("BANDS", "Bands in the model's order"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        model = self.parameterAsFile(parameters, "MODEL", context)
        text = runner.run(["info", model], feedback)
        card = model_card(model, feedback)
        feedback.pushInfo(text)
        results = {
            "CLASSES": ", ".join(f"{c['id']}={c['name']}" for c in card["classes"]),
            "BANDS": ", ".join(card["bands"]),
        }
        out = self.parameterAsFileOutput(parameters, "OUTPUT_HTML", context)
        if out:
            swatches = "".join(
                f'<tr><td style="background:{html.escape(c["color"])}">&nbsp;&nbsp;&nbsp;</td>'
                f"<td>{c['id']}</td><td>{html.escape(c['name'])}</td></tr>"
                for c in card["classes"]
            )
            with open(out, "w", encoding="utf-8") as f:
                f.write(
                    f"<html><head><meta charset='utf-8'><title>{html.escape(os.path.basename(model))}</title></head>"
                    f"<body><h1>{html.escape(os.path.basename(model))}</h1><pre>{html.escape(text)}</pre>"
                    f"<h2>Classes</h2><table>{swatches}</table></body></html>\n"
                )
            results["OUTPUT_HTML"] = out
        return results


def driver_error(path):
    """The message GDAL (the GEOMAML driver: geomaml's own error, e.g. the bands the
    scene lacks) gives for opening `path`, or "" when it opens."""
    from osgeo import gdal

    gdal.PushErrorHandler("CPLQuietErrorHandler")
    try:
        gdal.ErrorReset()
        try:
            ds = gdal.Open(path)
        except RuntimeError as e:  # with gdal.UseExceptions()
            return str(e)
        if ds is not None:
            return ""
        return gdal.GetLastErrorMsg()
    finally:
        gdal.PopErrorHandler()


class LiveLayer(GeomamlAlgorithm):
    def name(self):
        return "livelayer"

    def displayName(self):  # noqa: N802
        return "Live map layer (computed as QGIS draws it)"

    def shortHelpString(self):  # noqa: N802
        return (
            "Writes a .geomaml descriptor of the model on the raster for geomaml's GDAL "
            "driver: QGIS computes the map block by block as it draws, with overviews "
            "for zoomed-out views, and nothing is written but the descriptor and its "
            "style (.qml, the model's classes and colours). The driver must be built "
            "(make plugin); it is found beside the geomaml executable."
        )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", "Scene"))
        self.addParameter(QgsProcessingParameterFile("MODEL", "Model", extension="onnx"))
        self.addParameter(stride_parameter())
        self.addParameter(
            QgsProcessingParameterBoolean(
                "EXACT", "Tile classifiers: run every window on its own (slower, as the overviews)", False
            )
        )
        self.addParameter(min_confidence_parameter())
        self.addParameter(
            QgsProcessingParameterFileDestination("OUTPUT", "Descriptor", "geomaml descriptor (*.geomaml)")
        )
        self.addOutput(QgsProcessingOutputRasterLayer("LAYER", "Live map"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        runner.ensure_driver()
        scene = scene_path(self, parameters, "INPUT", context)
        model = os.path.abspath(self.parameterAsFile(parameters, "MODEL", context))
        out = self.parameterAsFileOutput(parameters, "OUTPUT", context)
        if not out.endswith(".geomaml"):
            out += ".geomaml"
        descriptor = {"model": model, "scene": os.path.abspath(scene) if os.path.exists(scene) else scene}
        if parameters.get("STRIDE") is not None:
            descriptor["stride"] = self.parameterAsInt(parameters, "STRIDE", context)
        if self.parameterAsBool(parameters, "EXACT", context):
            descriptor["exact"] = True
        floor = self.parameterAsInt(parameters, "MIN_CONFIDENCE", context)
        if floor:
            descriptor["min_confidence"] = floor
        with open(out, "w", encoding="utf-8") as f:
            json.dump(descriptor, f, indent=2)
        layer = QgsRasterLayer(out, os.path.splitext(os.path.basename(out))[0], "gdal")
        if not layer.isValid():
            why = driver_error(out) or layer.error().summary()
            os.remove(out)
            raise QgsProcessingException(f"{out} (model {model} on {scene}): {why}")
        apply_style(layer, model_card(model, feedback)["classes"])
        style = os.path.splitext(out)[0] + ".qml"
        message, ok = layer.saveNamedStyle(style)
        if not ok:
            raise QgsProcessingException(f"could not write the style {style}: {message}")
        feedback.pushInfo(f"wrote {out} and its style {style}")
        if context.project() is not None:
            context.temporaryLayerStore().addMapLayer(layer)
            context.addLayerToLoadOnCompletion(
                layer.id(), QgsProcessingContext.LayerDetails(layer.name(), context.project(), "LAYER")
            )
        return {"OUTPUT": out, "LAYER": layer.id()}
