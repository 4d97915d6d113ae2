"""landseg Processing provider for QGIS (3.22 LTR and newer).

QGIS calls :func:`classFactory` when the plugin is enabled; the plugin registers the Processing
provider in ``initProcessing`` (also called by ``qgis_process`` and scripts, without a GUI).
This package imports nothing of ``landseg``: every algorithm runs the ``landseg`` command line.
"""


def classFactory(iface):  # noqa: N802 - the name QGIS looks for
    from .plugin import LandsegPlugin  # noqa: PLC0415 - QGIS's plugin pattern: load on enabling

    return LandsegPlugin(iface)
