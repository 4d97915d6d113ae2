"""landseg: land-cover segmentation of aerial imagery with exact class areas."""

__version__ = "0.1.0"
