"""Registers the geomaml Processing provider while the plugin is loaded."""

from qgis.core import QgsApplication

from .provider import GeomamlProvider
from .runner import register_driver_quietly


class GeomamlPlugin:
    def __init__(self, iface):
        self.iface = iface
        self.provider = None

    def initProcessing(self):  # noqa: N802 (QGIS's name)
        # The GEOMAML GDAL driver, for live map layers in saved projects.
        register_driver_quietly()
        self.provider = GeomamlProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802
        self.initProcessing()

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
