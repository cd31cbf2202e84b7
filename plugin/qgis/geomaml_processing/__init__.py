"""geomaml's QGIS plugin: a Processing provider whose algorithms run the geomaml
command-line tool (see provider.py)."""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    from .plugin import GeomamlPlugin

    return GeomamlPlugin(iface)
