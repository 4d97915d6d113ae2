"""Self-contained HTML reports of predict, evaluate and training-run folders (``landseg report``)."""

from landseg.report.html import KINDS, detect_kind, write_report

__all__ = ["KINDS", "detect_kind", "write_report"]
