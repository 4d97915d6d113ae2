"""The landseg Processing algorithms. Each builds a ``landseg`` command line from its parameters, runs
it (:func:`runner.run_landseg`) and hands its outputs to QGIS, which loads them with their styles
(class maps: the ``.qml`` beside the GeoTIFF; GeoPackages: the default style in ``layer_styles``).

The algorithm ids (``landseg:predict``, ``landseg:area``, ...) are a contract: models and scripts
refer to them.
"""

import os

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputRasterLayer,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorDestination,
)
from qgis.PyQt.QtGui import QIcon

from .runner import run_landseg

UNITS = ["m2", "ha", "km2", "ft2", "acre"]
VECTOR_FORMATS = ["gpkg", "geojson", "shp"]
ICON = os.path.join(os.path.dirname(__file__), "icon.svg")


class LandsegAlgorithm(QgsProcessingAlgorithm):
    """Shared parts: names, group, help, parameter readers, running landseg, loading outputs."""

    NAME = ""
    TITLE = ""
    GROUP = ""
    HELP = ""

    def name(self):
        return self.NAME

    def displayName(self):  # noqa: N802 - QGIS API
        return self.TITLE

    def group(self):
        return self.GROUP

    def groupId(self):  # noqa: N802
        return self.GROUP.lower().replace(" ", "")

    def shortHelpString(self):  # noqa: N802
        return self.HELP

    def icon(self):
        return QIcon(ICON)

    def createInstance(self):  # noqa: N802
        return type(self)()

    # ------------------------------------------------------------------ parameters
    def add_classmap(self, name="INPUT", title="Class map (landseg class GeoTIFF or label raster)"):
        self.addParameter(QgsProcessingParameterRasterLayer(name, title))

    def add_common(self, gsd=True, table=True):
        if table:
            self.addParameter(QgsProcessingParameterString(
                "CLASS_TABLE", "Class table (preset isprs/dubai or YAML/JSON file; empty: the map's own)",
                optional=True))
        if gsd:
            p = QgsProcessingParameterNumber("GSD", "Pixel size in metres (only for rasters without georeferencing)",
                                             QgsProcessingParameterNumber.Double, optional=True, minValue=0.0)
            p.setFlags(p.flags() | p.FlagAdvanced)
            self.addParameter(p)

    def add_zones(self, optional):
        self.addParameter(QgsProcessingParameterFeatureSource(
            "ZONES", "Zones (parcels, districts)", [QgsProcessing.TypeVectorPolygon], optional=optional))
        self.addParameter(QgsProcessingParameterField(
            "ZONE_ID", "Zone id field (empty: feature id)", parentLayerParameterName="ZONES", optional=True))

    def raster_path(self, parameters, name, context):
        layer = self.parameterAsRasterLayer(parameters, name, context)
        if layer is None:
            raise QgsProcessingException(f"{name}: no raster layer given")
        path = layer.source().split("|")[0]
        if layer.providerType() != "gdal" or not os.path.isfile(path):
            raise QgsProcessingException(
                f"{layer.name()}: landseg reads raster files (GeoTIFF, PNG, JPEG); this layer is not a file "
                f"({layer.source()!r}); save it as a GeoTIFF first (Export > Save As)")
        return path

    def vector_path(self, parameters, name, context, feedback):
        """A file of the vector input landseg can read (the layer's own file, or a GeoPackage copy of
        a non-file layer or of its selected features)."""
        return self.parameterAsCompatibleSourceLayerPath(parameters, name, context, VECTOR_FORMATS, "gpkg", feedback)

    def zone_args(self, parameters, context, feedback):
        if parameters.get("ZONES") in (None, ""):
            return []
        args = ["--zones", self.vector_path(parameters, "ZONES", context, feedback)]
        fields = self.parameterAsFields(parameters, "ZONE_ID", context)
        if fields:
            args += ["--zone-id", fields[0]]
        return args

    def common_args(self, parameters, context):
        args = []
        table = self.parameterAsString(parameters, "CLASS_TABLE", context) if "CLASS_TABLE" in self.param_names() else ""
        if table:
            args += ["--class-table", table]
        if "GSD" in self.param_names() and parameters.get("GSD") not in (None, ""):
            gsd = self.parameterAsDouble(parameters, "GSD", context)
            if gsd > 0:
                args += ["--gsd", repr(gsd)]
        return args

    def param_names(self):
        return {p.name() for p in self.parameterDefinitions()}

    def optional_number(self, parameters, name, context, integer=False):
        if parameters.get(name) in (None, ""):
            return None
        return self.parameterAsInt(parameters, name, context) if integer else self.parameterAsDouble(
            parameters, name, context)

    def output_file(self, parameters, name, context, suffixes):
        path = self.parameterAsFileOutput(parameters, name, context)
        ext = os.path.splitext(path)[1].lower()
        if ext not in suffixes:
            raise QgsProcessingException(f"{path}: use one of {', '.join(suffixes)}")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return path

    def output_layer(self, parameters, name, context):
        path = self.parameterAsOutputLayer(parameters, name, context)
        if not path or path.startswith("memory:") or ":" in os.path.basename(path):
            raise QgsProcessingException(f"{name}: landseg writes files; choose a .gpkg or .geojson file")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return path

    def load(self, context, path, name, output_name):
        """Add ``path`` to the project when the algorithm finishes (QGIS applies the layer's style)."""
        if context.project() is not None and os.path.exists(path.split("|")[0]):
            context.addLayerToLoadOnCompletion(path, QgsProcessingContext.LayerDetails(name, context.project(), output_name))

    @staticmethod
    def check_written(path):
        if not os.path.exists(path):
            raise QgsProcessingException(f"landseg reported success but {path} was not written")
        return path


class Predict(LandsegAlgorithm):
    NAME, TITLE, GROUP = "predict", "Predict land cover (class map)", "Maps"
    HELP = ("Segments an orthophoto with a landseg model and writes a Cloud-Optimized GeoTIFF class map "
            "(loaded with a legend of the class names), previews and the class-area table.\n\n"
            "Model: a bundled one ('default': Dubai, RGB, about 0.9 m pixels; 'isprs-irrg': the ISPRS classes on "
            "9 cm IRRG false-colour orthophotos such as Vaihingen), a checkpoint (.safetensors) or a training "
            "run folder.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", "Image (GeoTIFF, PNG, JPEG)"))
        self.addParameter(QgsProcessingParameterString("MODEL", "Model ('default', 'isprs-irrg', checkpoint or run folder)",
                                                       defaultValue="default"))
        self.addParameter(QgsProcessingParameterBoolean("TTA", "Average the 8 flips and rotations (8x slower)",
                                                        defaultValue=False))
        self.add_common(table=False)
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT_FOLDER", "Output folder"))
        self.addOutput(QgsProcessingOutputRasterLayer("CLASSES", "Class map"))
        self.addOutput(QgsProcessingOutputFile("AREAS", "Class areas (CSV)"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        src = self.raster_path(parameters, "INPUT", context)
        folder = self.parameterAsString(parameters, "OUTPUT_FOLDER", context)
        os.makedirs(folder, exist_ok=True)
        args = ["predict", self.parameterAsString(parameters, "MODEL", context) or "default", src, "--out", folder,
                "--progress-lines"]
        if self.parameterAsBool(parameters, "TTA", context):
            args.append("--tta")
        run_landseg(args + self.common_args(parameters, context), feedback)
        stem = os.path.splitext(os.path.basename(src))[0]
        classes = self.check_written(os.path.join(folder, f"{stem}_classes.tif"))
        self.load(context, classes, f"{stem} classes", "CLASSES")
        return {"CLASSES": classes, "AREAS": os.path.join(folder, f"{stem}_areas.csv"), "OUTPUT_FOLDER": folder}


class Area(LandsegAlgorithm):
    NAME, TITLE, GROUP = "area", "Class areas (whole map or per zone)", "Areas"
    HELP = ("Measures the area of every class (m², ha, share) of a class map, for the whole map or per zone "
            "(exact fractional pixel coverage; zones in any CRS).\n\nOutput: a table (.csv, .json, .md) or, "
            "with zones, a GeoPackage of the zones with one area column per class (styled by class share).")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_classmap()
        self.add_zones(optional=True)
        self.addParameter(QgsProcessingParameterEnum("UNITS", "Units", options=UNITS, defaultValue=0))
        self.add_common()
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT", "Areas", "GeoPackage (*.gpkg);;CSV (*.csv);;JSON (*.json);;Markdown (*.md)"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        src = self.raster_path(parameters, "INPUT", context)
        zones = self.zone_args(parameters, context, feedback)
        out = self.output_file(parameters, "OUTPUT", context, [".gpkg", ".geojson", ".csv", ".json", ".md"])
        if not zones and out.lower().endswith((".gpkg", ".geojson")):
            raise QgsProcessingException("a GeoPackage/GeoJSON output needs zones; choose a .csv, .json or .md file")
        units = UNITS[self.parameterAsEnum(parameters, "UNITS", context)]
        run_landseg(["area", src, *zones, "--units", units, "--out", out, *self.common_args(parameters, context)],
                    feedback)
        self.check_written(out)
        if out.lower().endswith(".gpkg"):
            self.load(context, out + "|layername=zones", "zone areas", "OUTPUT")
        return {"OUTPUT": out}


class Indicators(LandsegAlgorithm):
    NAME, TITLE, GROUP = "indicators", "Planning indicators per zone (with limits)", "Areas"
    HELP = ("Per zone: building coverage, sealed, green and tree shares, number of buildings. Limits compare "
            "an indicator with a numeric column of the zones, e.g. 'max_cov:building_coverage' flags the zones "
            "whose building coverage is over their max_cov (several limits: separate them with ';').\n\n"
            "The GeoPackage carries QGIS styles: one graduated style per share and one per limit "
            "('over the limit' / 'within').")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_classmap()
        self.add_zones(optional=False)
        self.addParameter(QgsProcessingParameterString(
            "LIMITS", "Limits COLUMN:INDICATOR (separate several with ';')", optional=True))
        self.add_common()
        self.addParameter(QgsProcessingParameterVectorDestination(
            "OUTPUT", "Indicators", QgsProcessing.TypeVectorPolygon))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        src = self.raster_path(parameters, "INPUT", context)
        out = self.output_layer(parameters, "OUTPUT", context)
        args = ["area", src, *self.zone_args(parameters, context, feedback), "--indicators", "--out", out]
        for spec in (self.parameterAsString(parameters, "LIMITS", context) or "").replace(",", ";").split(";"):
            if spec.strip():
                args += ["--limit", spec.strip()]
        run_landseg(args + self.common_args(parameters, context), feedback)
        self.check_written(out)
        return {"OUTPUT": out}


class Sample(LandsegAlgorithm):
    NAME, TITLE, GROUP = "sample", "Draw an accuracy sample (points to label)", "Accuracy"
    HELP = ("Draws a stratified random sample of pixel centres from a class map. Label each point by filling "
            "'reference' (a drop-down of the class names in the attribute form), then run 'Error-adjusted "
            "areas'. Same seed, same points.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_classmap()
        self.addParameter(QgsProcessingParameterNumber("N", "Number of points", QgsProcessingParameterNumber.Integer,
                                                       defaultValue=500, minValue=1))
        self.addParameter(QgsProcessingParameterNumber(
            "MIN_PER_CLASS", "At least this many points per class", QgsProcessingParameterNumber.Integer,
            optional=True, minValue=1))
        self.addParameter(QgsProcessingParameterNumber("SEED", "Random seed", QgsProcessingParameterNumber.Integer,
                                                       defaultValue=0))
        self.add_common()
        self.addParameter(QgsProcessingParameterVectorDestination("OUTPUT", "Sample points", QgsProcessing.TypeVectorPoint))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        src = self.raster_path(parameters, "INPUT", context)
        out = self.output_layer(parameters, "OUTPUT", context)
        args = ["sample", src, "--n", self.parameterAsInt(parameters, "N", context), "--out", out,
                "--seed", self.parameterAsInt(parameters, "SEED", context)]
        mpc = self.optional_number(parameters, "MIN_PER_CLASS", context, integer=True)
        if mpc:
            args += ["--min-per-class", mpc]
        run_landseg(args + self.common_args(parameters, context), feedback)
        self.check_written(out)
        return {"OUTPUT": out}


class AdjustedAreas(LandsegAlgorithm):
    NAME, TITLE, GROUP = "adjustedareas", "Error-adjusted areas (labelled sample)", "Accuracy"
    HELP = ("Accuracy of the class map against a labelled sample (the 'reference' column of the points of "
            "'Draw an accuracy sample') and the error-adjusted class areas with 95 % confidence intervals.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_classmap()
        self.addParameter(QgsProcessingParameterFeatureSource(
            "REFERENCE", "Labelled sample points", [QgsProcessing.TypeVectorPoint]))
        self.add_common()
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT", "Accuracy and adjusted areas", "CSV (*.csv);;JSON (*.json);;Markdown (*.md)"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        src = self.raster_path(parameters, "INPUT", context)
        ref = self.vector_path(parameters, "REFERENCE", context, feedback)
        out = self.output_file(parameters, "OUTPUT", context, [".csv", ".json", ".md", ".txt"])
        run_landseg(["area", src, "--reference", ref, "--out", out, *self.common_args(parameters, context)], feedback)
        return {"OUTPUT": self.check_written(out)}


class Change(LandsegAlgorithm):
    NAME, TITLE, GROUP = "change", "Change between two class maps", "Maps"
    HELP = ("From -> to transitions between two class maps: a transition map (stable classes muted, each change "
            "type in its own colour), a preview with legend, the transition matrix and, with zones, per-zone "
            "matrices.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_classmap("BEFORE", "Class map of the first date")
        self.add_classmap("AFTER", "Class map of the second date")
        self.add_zones(optional=True)
        self.add_common()
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT_FOLDER", "Output folder"))
        self.addOutput(QgsProcessingOutputRasterLayer("TRANSITIONS", "Transition map"))
        self.addOutput(QgsProcessingOutputFile("PREVIEW", "Preview with legend (PNG)"))
        self.addOutput(QgsProcessingOutputFile("TABLE", "Transitions (CSV)"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        before = self.raster_path(parameters, "BEFORE", context)
        after = self.raster_path(parameters, "AFTER", context)
        folder = self.parameterAsString(parameters, "OUTPUT_FOLDER", context)
        os.makedirs(folder, exist_ok=True)
        run_landseg(["change", before, after, "--out", folder, *self.zone_args(parameters, context, feedback),
                     *self.common_args(parameters, context)], feedback)
        tif = self.check_written(os.path.join(folder, "transitions.tif"))
        self.load(context, tif, "transitions", "TRANSITIONS")
        return {"TRANSITIONS": tif, "PREVIEW": os.path.join(folder, "transitions_preview.png"),
                "TABLE": os.path.join(folder, "transitions.csv"), "OUTPUT_FOLDER": folder}


class Vectorize(LandsegAlgorithm):
    NAME, TITLE, GROUP = "vectorize", "Class map to polygons", "Maps"
    HELP = ("One polygon per connected area of each class, with its class name and exact ground area; "
            "styled in the class colours.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_classmap()
        self.addParameter(QgsProcessingParameterString(
            "CLASSES", "Classes to vectorise (comma-separated names; empty: all)", optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            "SIMPLIFY", "Simplify tolerance (map units)", QgsProcessingParameterNumber.Double, optional=True,
            minValue=0.0))
        self.addParameter(QgsProcessingParameterNumber(
            "MIN_AREA", "Drop polygons smaller than (m²)", QgsProcessingParameterNumber.Double, optional=True,
            minValue=0.0))
        self.add_common()
        self.addParameter(QgsProcessingParameterVectorDestination("OUTPUT", "Polygons", QgsProcessing.TypeVectorPolygon))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        src = self.raster_path(parameters, "INPUT", context)
        out = self.output_layer(parameters, "OUTPUT", context)
        args = ["vectorize", src, "--out", out]
        classes = self.parameterAsString(parameters, "CLASSES", context)
        if classes:
            args += ["--classes", classes]
        for name, opt in (("SIMPLIFY", "--simplify"), ("MIN_AREA", "--min-area")):
            value = self.optional_number(parameters, name, context)
            if value is not None:
                args += [opt, repr(value)]
        run_landseg(args + self.common_args(parameters, context), feedback)
        self.check_written(out)
        return {"OUTPUT": out}


ALGORITHMS = [Predict, Area, Indicators, Sample, AdjustedAreas, Change, Vectorize]
