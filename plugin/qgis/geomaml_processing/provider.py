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

    def loadAlgorithms(self):  # noqa: N802
        for alg in (AdaptAndMap(), MapRaster(), Assess(), ModelCard(), LiveLayer()):
            self.addAlgorithm(alg)
