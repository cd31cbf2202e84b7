"""The geomaml Processing provider: the algorithms of algorithms.py."""

from qgis.core import QgsProcessingProvider

from .algorithms import AdaptAndMap, Assess, LiveLayer, MapRaster, ModelCard


class GeomamlProvider(QgsProcessingProvider):
    def id(self):
        return "geomaml"

    def name(self):
        return "geomaml"

    def longName(self):  # noqa: N802
        return "geomaml few-shot land-cover mapping"

    def supportedOutputRasterLayerExtensions(self):  # noqa: N802
        # geomaml writes GeoTIFF maps only: QGIS then offers .tif and nothing that
        # would be a GeoTIFF under another format's name (map.img).
        return ["tif"]

    def defaultRasterFileExtension(self):  # noqa: N802
        return "tif"

    def loadAlgorithms(self):  # noqa: N802
        for alg in (AdaptAndMap(), MapRaster(), Assess(), ModelCard(), LiveLayer()):
            self.addAlgorithm(alg)
