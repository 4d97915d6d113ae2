"""Drive the landseg QGIS plugin in a headless QGIS; run by tests/test_qgis.py with the system Python.

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis_headless.py CASES.json

CASES.json holds the paths to use (the plugin folder, the landseg executable, a class map, zones,
an image for the cancel check and an output folder); the results are printed as one JSON object on
the last line of stdout. The script only reports what QGIS shows; tests/test_qgis.py judges it.
"""

import json
import os
import sys
import threading
import time


def main(cases_path):
    with open(cases_path, encoding="utf-8") as f:
        cases = json.load(f)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from qgis.core import (
        Qgis,
        QgsApplication,
        QgsLayerTreeLayer,
        QgsMapRendererParallelJob,
        QgsMapSettings,
        QgsProcessingContext,
        QgsProcessingFeedback,
        QgsProject,
        QgsRasterLayer,
        QgsVectorLayer,
    )
    from qgis.PyQt.QtCore import QSize, Qt

    app = QgsApplication([], False)
    app.initQgis()
    sys.path.insert(0, os.path.join(QgsApplication.pkgDataPath(), "python", "plugins"))
    import processing
    from processing.core.Processing import Processing
    from processing.core.ProcessingConfig import ProcessingConfig

    Processing.initialize()
    sys.path.insert(0, cases["plugin_dir"])
    import landseg_provider

    plugin = landseg_provider.classFactory(None)
    plugin.initProcessing()
    ProcessingConfig.setSettingValue("LANDSEG_EXECUTABLE", cases["executable"])
    out = {"qgis_version": Qgis.QGIS_VERSION}
    registry = QgsApplication.processingRegistry()
    out["algorithms"] = sorted(a.id() for a in registry.algorithms() if a.provider().id() == "landseg")

    project = QgsProject.instance()
    context = QgsProcessingContext()
    context.setProject(project)
    feedback = QgsProcessingFeedback()

    # -- landseg:area with zones: the zone layer as QGIS reads it
    t0 = time.monotonic()
    res = processing.run("landseg:area", {"INPUT": cases["classmap"], "ZONES": cases["zones"], "ZONE_ID": "parcel",
                                          "UNITS": 0, "OUTPUT": os.path.join(cases["out"], "zone_areas.gpkg")},
                         context=context, feedback=feedback)
    out["area_seconds"] = time.monotonic() - t0
    layer = QgsVectorLayer(res["OUTPUT"] + "|layername=zones", "zones", "ogr")
    out["area_valid"] = layer.isValid()
    names = [f.name() for f in layer.fields()]
    out["area_zones"] = {str(f["parcel"]): {n: f[n] for n in names if n.endswith("_m2")} for f in layer.getFeatures()}
    out["area_renderer"] = layer.renderer().type()
    out["area_legend"] = [i.label() for i in layer.renderer().legendSymbolItems()]
    out["area_loaded_on_completion"] = list(context.layersToLoadOnCompletion().keys())

    # -- landseg:sample: points styled by class, 'reference' edited through a drop-down of class names
    res = processing.run("landseg:sample", {"INPUT": cases["classmap"], "N": 40, "SEED": 1,
                                            "OUTPUT": os.path.join(cases["out"], "points.gpkg")},
                         context=context, feedback=feedback)
    pts = QgsVectorLayer(res["OUTPUT"], "points", "ogr")
    out["sample_count"] = pts.featureCount()
    out["sample_renderer"] = [pts.renderer().type(), getattr(pts.renderer(), "classAttribute", lambda: "")()]
    out["sample_legend"] = [i.label() for i in pts.renderer().legendSymbolItems()]
    ws = pts.editorWidgetSetup(pts.fields().indexOf("reference"))
    out["reference_widget"] = [ws.type(), [v for d in ws.config().get("map", []) for v in d.values()]]

    # -- the class map as QGIS shows it: legend of the layer tree and a rendered image
    raster = QgsRasterLayer(cases["classmap"], "classes")
    out["raster_renderer"] = raster.renderer().type()
    nodes = raster.legend().createLayerTreeModelLegendNodes(QgsLayerTreeLayer(raster))
    out["raster_legend"] = [n.data(Qt.DisplayRole) for n in nodes]
    settings = QgsMapSettings()
    settings.setLayers([raster])
    settings.setDestinationCrs(raster.crs())
    settings.setExtent(raster.extent())
    size = cases.get("render_size", 200)
    settings.setOutputSize(QSize(size, size))
    settings.setBackgroundColor(Qt.black)
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    img = job.renderedImage()
    out["render_size"] = [img.width(), img.height()]
    out["render_pixels"] = {f"{r},{c}": list(img.pixelColor(c, r).getRgb()[:3])
                            for r, c in cases.get("probe_pixels", [])}

    # -- landseg:predict: progress streamed from the subprocess, the class map loaded with its legend
    if cases.get("predict_model"):
        fb = QgsProcessingFeedback()
        progress = []
        fb.progressChanged.connect(lambda p: progress.append(round(p)))
        res = processing.run("landseg:predict", {"INPUT": cases["predict_image"], "MODEL": cases["predict_model"],
                                                 "OUTPUT_FOLDER": cases["predict_out"]}, context=context, feedback=fb)
        out["predict_progress"] = progress
        layer = QgsRasterLayer(res["CLASSES"], "predicted")
        out["predict_legend"] = [i[0] for i in layer.renderer().legendSymbologyItems()]
        out["predict_loaded_on_completion"] = [k for k in context.layersToLoadOnCompletion() if k == res["CLASSES"]]

    # -- cancel: landseg:predict stopped mid-run leaves no output behind
    if cases.get("cancel_image"):
        fb = QgsProcessingFeedback()
        timer = threading.Timer(cases.get("cancel_after", 4.0), fb.cancel)
        timer.start()
        t0 = time.monotonic()
        try:
            processing.run("landseg:predict", {"INPUT": cases["cancel_image"], "MODEL": "default",
                                               "OUTPUT_FOLDER": cases["cancel_out"]}, context=context, feedback=fb)
            out["cancel"] = "finished"
        except Exception as exc:  # noqa: BLE001 - QgsProcessingException: the message is the result
            out["cancel"] = str(exc)
        out["cancel_seconds"] = time.monotonic() - t0
        timer.cancel()
    # -- cancel of a landseg that does not stop on SIGINT: killed after the grace time, its scratch removed
    if cases.get("stubborn_executable"):
        from landseg_provider import runner

        runner.STOP_GRACE_S = 1
        ProcessingConfig.setSettingValue("LANDSEG_EXECUTABLE", cases["stubborn_executable"])
        fb = QgsProcessingFeedback()
        timer = threading.Timer(2.0, fb.cancel)
        timer.start()
        try:
            processing.run("landseg:predict", {"INPUT": cases["cancel_image"], "MODEL": "default",
                                               "OUTPUT_FOLDER": cases["stubborn_out"]}, context=context, feedback=fb)
            out["stubborn"] = "finished"
        except Exception as exc:  # noqa: BLE001 - the message is the result
            out["stubborn"] = str(exc)
        timer.cancel()
        ProcessingConfig.setSettingValue("LANDSEG_EXECUTABLE", cases["executable"])
    plugin.unload()
    print(json.dumps(out, default=str), flush=True)
    sys.stderr.flush()
    os._exit(0)  # QGIS 3.22 may crash while tearing down its Python bindings; the results are out


if __name__ == "__main__":
    main(sys.argv[1])
