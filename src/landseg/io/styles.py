"""QGIS styles embedded in GeoPackages, so a layer opens styled (class colours, graduated indicators).

QGIS keeps the styles of a GeoPackage's layers in a ``layer_styles`` table (the QGIS GeoPackage
styling convention: ``f_table_name``/``f_geometry_column`` name the layer, ``styleQML`` holds the
QGIS style XML, ``styleSLD`` an OGC SLD of the same symbology, ``useAsDefault`` marks the style
QGIS applies on loading). The table is registered in ``gpkg_contents`` as an attributes table, as
QGIS does when it saves a style itself. :func:`categorized_qml` and :func:`graduated_qml` build the
two renderers landseg needs; :func:`write_gpkg_styles` adds them to a GeoPackage written by pyogrio.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from landseg.errors import InputError
from landseg.io.files import atomic_output

QGIS_VERSION = "3.28.0-Firenze"
OUTLINE = (35, 35, 35)
RAMP = ((255, 255, 204), (161, 218, 180), (65, 182, 196), (44, 127, 184), (37, 52, 148))
"""A sequential ramp (ColorBrewer YlGnBu, 5 classes), low to high; RGB."""

CREATE_LAYER_STYLES = """CREATE TABLE IF NOT EXISTS layer_styles (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  f_table_catalog TEXT(256), f_table_schema TEXT(256), f_table_name TEXT(256), f_geometry_column TEXT(256),
  styleName TEXT(30), styleQML TEXT, styleSLD TEXT, useAsDefault BOOLEAN, description TEXT, owner TEXT(30),
  ui TEXT(30), update_time DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"""


@dataclass(frozen=True)
class LayerStyle:
    """One style of a layer: its name, the QGIS QML, the SLD and whether QGIS loads it by default."""

    name: str
    qml: str
    sld: str
    default: bool = False
    description: str = ""


def _rgba(rgb: Sequence[int], alpha: int = 255) -> str:
    return f"{int(rgb[0])},{int(rgb[1])},{int(rgb[2])},{alpha}"


def _hex(rgb: Sequence[int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(v) for v in rgb[:3]))


def _fill_symbol(name: str, rgb: Sequence[int]) -> str:
    """A QGIS simple fill symbol (QGIS 3 ``Option`` map and the older ``prop`` pairs, for every 3.x)."""
    props = {"color": _rgba(rgb), "outline_color": _rgba(OUTLINE), "outline_style": "solid",
             "outline_width": "0.26", "outline_width_unit": "MM", "style": "solid", "joinstyle": "bevel"}
    options = "".join(f'<Option name="{k}" type="QString" value="{v}"/>' for k, v in props.items())
    old = "".join(f'<prop k="{k}" v="{v}"/>' for k, v in props.items())
    return (f'<symbol type="fill" name={quoteattr(name)} alpha="1" clip_to_extent="1" force_rhr="0">'
            f'<layer class="SimpleFill" enabled="1" locked="0" pass="0"><Option type="Map">{options}</Option>'
            f"{old}</layer></symbol>")


def _marker_symbol(name: str, rgb: Sequence[int]) -> str:
    """A QGIS simple marker symbol (a circle of 2.4 mm with a dark outline), for point layers."""
    props = {"color": _rgba(rgb), "outline_color": _rgba(OUTLINE), "outline_style": "solid",
             "outline_width": "0.3", "outline_width_unit": "MM", "name": "circle", "size": "2.4",
             "size_unit": "MM", "angle": "0", "joinstyle": "bevel", "scale_method": "diameter"}
    options = "".join(f'<Option name="{k}" type="QString" value="{v}"/>' for k, v in props.items())
    old = "".join(f'<prop k="{k}" v="{v}"/>' for k, v in props.items())
    return (f'<symbol type="marker" name={quoteattr(name)} alpha="1" clip_to_extent="1" force_rhr="0">'
            f'<layer class="SimpleMarker" enabled="1" locked="0" pass="0"><Option type="Map">{options}</Option>'
            f"{old}</layer></symbol>")


def _symbol(kind: str, name: str, rgb: Sequence[int]) -> str:
    if kind not in ("fill", "marker"):
        raise ValueError(f"symbol kind must be 'fill' or 'marker', got {kind!r}")
    return _fill_symbol(name, rgb) if kind == "fill" else _marker_symbol(name, rgb)


def _qml(renderer: str, extra: str = "") -> str:
    """A QGIS vector style: the renderer, and ``extra`` layer settings (field widgets)."""
    return (f"<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
            f'<qgis version="{QGIS_VERSION}" styleCategories="AllStyleCategories">{renderer}{extra}'
            "<blendMode>0</blendMode><featureBlendMode>0</featureBlendMode><layerOpacity>1</layerOpacity></qgis>\n")


def value_map_xml(fields: str | Sequence[str], values: Sequence[str]) -> str:
    """The QGIS form settings that edit each of ``fields`` through a drop-down of ``values`` (a "Value Map"
    widget; each value is shown as itself), to pass as ``extra`` of :func:`categorized_qml`."""
    entries = "".join(f'<Option type="Map"><Option name={quoteattr(v)} type="QString" value={quoteattr(v)}/></Option>'
                      for v in values)
    names = [fields] if isinstance(fields, str) else list(fields)
    widgets = "".join(f'<field name={quoteattr(f)} configurationFlags="None">'
                      '<editWidget type="ValueMap"><config><Option type="Map">'
                      f'<Option name="map" type="List">{entries}</Option></Option></config></editWidget></field>'
                      for f in names)
    return f"<fieldConfiguration>{widgets}</fieldConfiguration>"


def _sld_symbolizer(kind: str, rgb: Sequence[int]) -> str:
    fill = f'<se:Fill><se:SvgParameter name="fill">{_hex(rgb)}</se:SvgParameter></se:Fill>'
    stroke = (f'<se:Stroke><se:SvgParameter name="stroke">{_hex(OUTLINE)}</se:SvgParameter>'
              '<se:SvgParameter name="stroke-width">1</se:SvgParameter></se:Stroke>')
    if kind == "marker":
        return (f"<se:PointSymbolizer><se:Graphic><se:Mark><se:WellKnownName>circle</se:WellKnownName>{fill}{stroke}"
                "</se:Mark><se:Size>9</se:Size></se:Graphic></se:PointSymbolizer>")
    return f"<se:PolygonSymbolizer>{fill}{stroke}</se:PolygonSymbolizer>"


def _sld(layer: str, rules: Sequence[tuple[str, str, Sequence[int]]], kind: str = "fill") -> str:
    """An SLD 1.1 of polygons (or points, ``kind="marker"``): one rule per (title, ogc:Filter XML, RGB)."""
    body = "".join(
        f"<se:Rule><se:Name>{escape(title)}</se:Name><se:Description><se:Title>{escape(title)}</se:Title>"
        f"</se:Description>{flt}{_sld_symbolizer(kind, rgb)}</se:Rule>"
        for title, flt, rgb in rules)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<StyledLayerDescriptor version="1.1.0" '
            'xmlns="http://www.opengis.net/sld" xmlns:ogc="http://www.opengis.net/ogc" '
            'xmlns:se="http://www.opengis.net/se" xmlns:xlink="http://www.w3.org/1999/xlink" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f"<NamedLayer><se:Name>{escape(layer)}</se:Name><UserStyle><se:Name>{escape(layer)}</se:Name>"
            f"<se:FeatureTypeStyle>{body}</se:FeatureTypeStyle></UserStyle></NamedLayer></StyledLayerDescriptor>\n")


Category = tuple[str, Sequence[int]] | tuple[str, Sequence[int], str]
"""(value, RGB) or (value, RGB, legend label); without a label the legend shows the value."""


def _label(cat: Category) -> str:
    return str(cat[2]) if len(cat) > 2 else str(cat[0])  # type: ignore[misc]


def categorized_qml(field: str, categories: Sequence[Category], *, kind: str = "fill", extra: str = "") -> str:
    """A QGIS categorized renderer on ``field``: one colour per value; ``kind`` "fill" (polygons) or
    "marker" (points); ``extra``: more layer settings, e.g. :func:`value_map_xml`."""
    cats = "".join(f'<category value={quoteattr(str(c[0]))} symbol="{k}" label={quoteattr(_label(c))} render="true"/>'
                   for k, c in enumerate(categories))
    symbols = "".join(_symbol(kind, str(k), c[1]) for k, c in enumerate(categories))
    return _qml(f'<renderer-v2 type="categorizedSymbol" attr={quoteattr(field)} symbollevels="0" '
                f'enableorderby="0" forceraster="0"><categories>{cats}</categories><symbols>{symbols}</symbols>'
                f"<source-symbol>{_symbol(kind, '0', (200, 200, 200))}</source-symbol></renderer-v2>", extra)


def categorized_sld(layer: str, field: str, categories: Sequence[Category], *, kind: str = "fill") -> str:
    """An SLD style: one rule per category of ``field``, each with its colour and label."""
    rules = [(_label(c), (f"<ogc:Filter><ogc:PropertyIsEqualTo><ogc:PropertyName>{escape(field)}</ogc:PropertyName>"
                          f"<ogc:Literal>{escape(str(c[0]))}</ogc:Literal></ogc:PropertyIsEqualTo></ogc:Filter>"), c[1])
             for c in categories]
    return _sld(layer, rules, kind)


def graduated_breaks(breaks: Sequence[float], labels: Sequence[str] | None = None,
                     ramp: Sequence[Sequence[int]] = RAMP) -> list[tuple[float, float, str, Sequence[int]]]:
    """(lower, upper, label, RGB) of the ranges between consecutive ``breaks``, coloured along ``ramp``."""
    n = len(breaks) - 1
    if n < 1:
        raise ValueError("a graduated style needs at least two breaks")
    out: list[tuple[float, float, str, Sequence[int]]] = []
    for k in range(n):
        pos = k / max(n - 1, 1) * (len(ramp) - 1)
        lo, t = int(pos), pos - int(pos)
        hi = min(lo + 1, len(ramp) - 1)
        rgb = tuple(round(ramp[lo][c] * (1 - t) + ramp[hi][c] * t) for c in range(3))
        label = labels[k] if labels else f"{breaks[k]:g} - {breaks[k + 1]:g}"
        out.append((float(breaks[k]), float(breaks[k + 1]), label, rgb))
    return out


def graduated_qml(field: str, ranges: Sequence[tuple[float, float, str, Sequence[int]]]) -> str:
    """A QGIS graduated renderer on ``field``: ranges (lower, upper, label, RGB), fixed intervals."""
    rng = "".join(f'<range lower="{lo:.6f}" upper="{hi:.6f}" symbol="{k}" label={quoteattr(label)} render="true"/>'
                  for k, (lo, hi, label, _) in enumerate(ranges))
    symbols = "".join(_fill_symbol(str(k), rgb) for k, (*_, rgb) in enumerate(ranges))
    return _qml(f'<renderer-v2 type="graduatedSymbol" attr={quoteattr(field)} graduatedMethod="GraduatedColor" '
                f'symbollevels="0" enableorderby="0" forceraster="0"><ranges>{rng}</ranges><symbols>{symbols}</symbols>'
                f"<source-symbol>{_fill_symbol('0', (200, 200, 200))}</source-symbol>"
                '<classificationMethod id="Fixed"/></renderer-v2>')


def graduated_sld(layer: str, field: str, ranges: Sequence[tuple[float, float, str, Sequence[int]]],
                  denominator: str | None = None) -> str:
    """The SLD of :func:`graduated_qml` on ``field`` (or on ``field / denominator``)."""
    f = f"<ogc:PropertyName>{escape(field)}</ogc:PropertyName>"
    if denominator:
        f = f"<ogc:Div>{f}<ogc:PropertyName>{escape(denominator)}</ogc:PropertyName></ogc:Div>"
    rules = [(label, (f"<ogc:Filter><ogc:And><ogc:PropertyIsGreaterThanOrEqualTo>{f}"
                      f"<ogc:Literal>{lo}</ogc:Literal></ogc:PropertyIsGreaterThanOrEqualTo>"
                      f"<ogc:PropertyIsLessThanOrEqualTo>{f}<ogc:Literal>{hi}"
                      "</ogc:Literal></ogc:PropertyIsLessThanOrEqualTo></ogc:And></ogc:Filter>"), rgb)
             for lo, hi, label, rgb in ranges]
    return _sld(layer, rules)


def share_expression(field: str, denominator: str) -> str:
    """A QGIS expression of ``field / denominator`` (NULL where the denominator is 0), usable as the
    attribute of :func:`graduated_qml`."""
    q = '"' + field.replace('"', '""') + '"'
    d = '"' + denominator.replace('"', '""') + '"'
    return f"CASE WHEN {d} > 0 THEN {q} / {d} END"


def class_raster_qml(entries: Sequence[tuple[int, str, Sequence[int]]]) -> str:
    """A QGIS style of a class raster: a paletted renderer of band 1 with one legend entry per
    (pixel value, class name, RGB); other values (nodata, unused codes) are not drawn or listed."""
    palette = "".join(f'<paletteEntry value="{int(v)}" color={quoteattr(_hex(rgb))} alpha="255" label={quoteattr(name)}/>'
                      for v, name, rgb in entries)
    return (f"<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
            f'<qgis version="{QGIS_VERSION}" styleCategories="AllStyleCategories"><pipe>'
            '<rasterrenderer type="paletted" opacity="1" band="1" alphaBand="-1" nodataColor="">'
            "<rasterTransparency/><minMaxOrigin><limits>None</limits><extent>WholeRaster</extent>"
            "<statAccuracy>Estimated</statAccuracy><cumulativeCutLower>0.02</cumulativeCutLower>"
            "<cumulativeCutUpper>0.98</cumulativeCutUpper><stdDevFactor>2</stdDevFactor></minMaxOrigin>"
            f"<colorPalette>{palette}</colorPalette></rasterrenderer>"
            '<brightnesscontrast brightness="0" contrast="0" gamma="1"/>'
            '<huesaturation saturation="0" grayscaleMode="0" colorizeOn="0" colorizeRed="255" colorizeGreen="128" '
            'colorizeBlue="128" colorizeStrength="100"/><rasterresampler maxOversampling="2"/>'
            "<resamplingStage>resamplingFilter</resamplingStage></pipe><blendMode>0</blendMode></qgis>\n")


def raster_style_path(raster: str | Path) -> Path:
    """The style file QGIS loads by itself with a raster: the same name with ``.qml``."""
    return Path(raster).with_suffix(".qml")


def write_raster_style(raster: str | Path, entries: Sequence[tuple[int, str, Sequence[int]]]) -> Path:
    """Write :func:`class_raster_qml` of ``entries`` beside ``raster`` (atomically); returns its path."""
    dst = raster_style_path(raster)
    with atomic_output(dst) as tmp:
        tmp.write_text(class_raster_qml(entries), encoding="utf-8")
    return dst


def write_gpkg_styles(path: str | Path, layer: str, styles: Sequence[LayerStyle]) -> None:
    """Add ``styles`` of ``layer`` to the GeoPackage ``path`` (its ``layer_styles`` table, created if
    needed); earlier styles of the layer with the same names are replaced. At most one should be
    the default; QGIS applies it when the layer is opened."""
    path = Path(path)
    con = sqlite3.connect(path)
    try:
        row = con.execute("SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?", (layer,)).fetchone()
        if row is None:
            raise InputError(f"{path}: no layer {layer!r} with geometries to style")
        with con:
            con.execute(CREATE_LAYER_STYLES)
            con.execute("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, "
                        "last_change) VALUES ('layer_styles', 'attributes', 'layer_styles', 'QGIS layer styles', "
                        "strftime('%Y-%m-%dT%H:%M:%fZ','now'))")
            if any(s.default for s in styles):
                con.execute("UPDATE layer_styles SET useAsDefault = 0 WHERE f_table_name = ?", (layer,))
            for s in styles:
                con.execute("DELETE FROM layer_styles WHERE f_table_name = ? AND styleName = ?", (layer, s.name))
                con.execute("INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
                            "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, owner, ui) "
                            "VALUES ('', '', ?, ?, ?, ?, ?, ?, ?, 'landseg', NULL)",
                            (layer, row[0], s.name, s.qml, s.sld, int(s.default), s.description))
    finally:
        con.close()


__all__ = [
    "RAMP",
    "Category",
    "LayerStyle",
    "class_raster_qml",
    "categorized_qml",
    "categorized_sld",
    "graduated_breaks",
    "graduated_qml",
    "graduated_sld",
    "raster_style_path",
    "share_expression",
    "value_map_xml",
    "write_gpkg_styles",
    "write_raster_style",
]
