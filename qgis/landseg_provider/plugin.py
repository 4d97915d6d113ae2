"""The plugin object QGIS keeps: it registers the landseg Processing provider."""

from qgis.core import QgsApplication

from .provider import LandsegProvider


class LandsegPlugin:
    def __init__(self, iface=None):
        self.iface = iface
        self.provider = None

    def initProcessing(self):  # noqa: N802 - QGIS plugin API
        if self.provider is None:
            self.provider = LandsegProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802 - QGIS plugin API
        self.initProcessing()

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
