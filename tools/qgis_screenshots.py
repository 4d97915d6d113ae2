"""Render the README's QGIS pictures with a headless QGIS (run with the system Python that has PyQGIS):

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tools/qgis_screenshots.py --data DIR --out docs/

docs/qgis_toolbox.png: the Processing toolbox with the landseg provider (the plugin from qgis/);
docs/qgis_styled_result.png: a layout of a class map, the zones of ``landseg:indicators`` and a
sample of ``landseg:sample``, each styled as the files open in QGIS, with the legend QGIS builds.
DIR must hold ``classes.tif`` (a landseg class map) and ``zones.gpkg`` (polygons with a numeric
``max_cov`` column); the indicators and the sample are made by the plugin (``--landseg`` names the
executable).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from qgis.core import (
    QgsApplication,
    QgsLayout,
    QgsLayoutExporter,
    QgsLayoutItemLabel,
    QgsLayoutItemLegend,
    QgsLayoutItemMap,
    QgsLayoutPoint,
    QgsLayoutSize,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProject,
    QgsRasterLayer,
    QgsUnitTypes,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QFont

ROOT = Path(__file__).resolve().parents[1]


def toolbox_png(dst: Path) -> None:
    from qgis.gui import QgsProcessingToolboxTreeView  # noqa: PLC0415 - needs the QApplication first

    view = QgsProcessingToolboxTreeView(None, QgsApplication.processingRegistry())
    view.setFilterString("landseg")
    view.expandAll()
    view.resize(QSize(460, 330))
    view.setHeaderHidden(True)
    view.show()
    QgsApplication.processEvents()
    view.grab().save(str(dst))


def styled_png(data: Path, dst: Path, landseg: str) -> None:
    import processing  # noqa: PLC0415 - QGIS's Processing plugin, on the path after init
    from processing.core.ProcessingConfig import ProcessingConfig  # noqa: PLC0415

    ProcessingConfig.setSettingValue("LANDSEG_EXECUTABLE", landseg)
    project = QgsProject.instance()
    ctx = QgsProcessingContext()
    ctx.setProject(project)
    fb = QgsProcessingFeedback()
    out = data / "qgis_run"
    out.mkdir(exist_ok=True)
    classes = str(data / "classes.tif")
    ind = processing.run("landseg:indicators", {"INPUT": classes, "ZONES": str(data / "zones.gpkg"),
                                                "ZONE_ID": "parcel", "LIMITS": "max_cov:building_coverage",
                                                "OUTPUT": str(out / "indicators.gpkg")}, context=ctx, feedback=fb)
    pts = processing.run("landseg:sample", {"INPUT": classes, "N": 60, "SEED": 0, "OUTPUT": str(out / "sample.gpkg")},
                         context=ctx, feedback=fb)
    raster = QgsRasterLayer(classes, "class map")
    zones = QgsVectorLayer(ind["OUTPUT"], "zones: building coverage", "ogr")
    zones.setOpacity(0.55)
    points = QgsVectorLayer(pts["OUTPUT"], "sample (mapped class)", "ogr")
    for layer in (raster, zones, points):
        assert layer.isValid(), layer.source()
        project.addMapLayer(layer)
    layout = QgsLayout(project)
    layout.initializeDefaults()
    page = layout.pageCollection().page(0)
    page.setPageSize(QgsLayoutSize(250, 178, QgsUnitTypes.LayoutMillimeters))
    m = QgsLayoutItemMap(layout)
    m.attemptMove(QgsLayoutPoint(5, 14, QgsUnitTypes.LayoutMillimeters))
    m.attemptResize(QgsLayoutSize(158, 158, QgsUnitTypes.LayoutMillimeters))
    m.setLayers([points, zones, raster])
    m.setExtent(raster.extent())
    m.setFrameEnabled(True)
    layout.addLayoutItem(m)
    title = QgsLayoutItemLabel(layout)
    title.setText("landseg outputs as they open in QGIS 3.22")
    title.setFont(QFont("DejaVu Sans", 14))
    title.attemptMove(QgsLayoutPoint(5, 3, QgsUnitTypes.LayoutMillimeters))
    title.attemptResize(QgsLayoutSize(250, 9, QgsUnitTypes.LayoutMillimeters))
    layout.addLayoutItem(title)
    legend = QgsLayoutItemLegend(layout)
    legend.setLinkedMap(m)
    legend.setTitle("Legend")
    legend.attemptMove(QgsLayoutPoint(168, 14, QgsUnitTypes.LayoutMillimeters))
    layout.addLayoutItem(legend)
    exporter = QgsLayoutExporter(layout)
    settings = QgsLayoutExporter.ImageExportSettings()
    settings.dpi = 110
    res = exporter.exportToImage(str(dst), settings)
    assert res == QgsLayoutExporter.Success, res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", default=str(ROOT / "docs"))
    ap.add_argument("--landseg", required=True, help="the landseg executable the plugin runs")
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QgsApplication([], True)
    app.initQgis()
    sys.path.insert(0, os.path.join(QgsApplication.pkgDataPath(), "python", "plugins"))
    from processing.core.Processing import Processing  # noqa: PLC0415

    Processing.initialize()
    sys.path.insert(0, str(ROOT / "qgis"))
    import landseg_provider  # noqa: PLC0415

    plugin = landseg_provider.classFactory(None)  # kept: the provider lives as long as the plugin object
    plugin.initProcessing()
    out = Path(args.out)
    toolbox_png(out / "qgis_toolbox.png")
    styled_png(Path(args.data), out / "qgis_styled_result.png", args.landseg)
    print(out / "qgis_toolbox.png", out / "qgis_styled_result.png")
    sys.stdout.flush()
    os._exit(0)  # QGIS 3.22 may crash while tearing down its Python bindings


if __name__ == "__main__":
    main()
