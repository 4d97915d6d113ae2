"""The landseg Processing provider: id ``landseg``, one setting (the landseg executable)."""

import os

from processing.core.ProcessingConfig import ProcessingConfig, Setting
from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .algorithms import ALGORITHMS
from .runner import SETTING

ICON = os.path.join(os.path.dirname(__file__), "icon.svg")


class LandsegProvider(QgsProcessingProvider):
    def id(self):
        return "landseg"

    def name(self):
        return "landseg"

    def longName(self):  # noqa: N802 - QGIS API
        return "landseg: land-cover segmentation, areas and planning indicators"

    def icon(self):
        return QIcon(ICON)

    def svgIconPath(self):  # noqa: N802 - QGIS API
        return ICON

    def load(self):
        ProcessingConfig.settingIcons[self.name()] = self.icon()
        ProcessingConfig.addSetting(Setting(
            self.name(), SETTING, "landseg executable (empty: 'landseg' on PATH)", "", valuetype=Setting.FILE))
        ProcessingConfig.readSettings()
        self.refreshAlgorithms()
        return True

    def unload(self):
        ProcessingConfig.removeSetting(SETTING)

    def loadAlgorithms(self):  # noqa: N802 - QGIS API
        for cls in ALGORITHMS:
            self.addAlgorithm(cls())

    def supportsNonFileBasedOutput(self):  # noqa: N802 - landseg writes files
        return False

    def defaultVectorFileExtension(self, hasGeometry=True):  # noqa: N802, N803
        return "gpkg"

    def defaultRasterFileExtension(self):  # noqa: N802
        return "tif"

    def supportedOutputVectorLayerExtensions(self):  # noqa: N802
        return ["gpkg", "geojson"]

    def supportedOutputRasterLayerExtensions(self):  # noqa: N802
        return ["tif"]
