"""Map accuracy and error-adjusted areas from a stratified reference sample (Olofsson et al. 2014)."""

from landseg.accuracy.assess import assess_accuracy, parse_reference
from landseg.accuracy.design import allocate, draw_ranks, locate_ranks
from landseg.accuracy.estimate import StratifiedEstimate, StratifiedTotal, stratified_estimate, stratified_total
from landseg.accuracy.report import AccuracyResult
from landseg.accuracy.sample import SampleDesign, draw_sample

__all__ = [
    "AccuracyResult",
    "SampleDesign",
    "StratifiedEstimate",
    "StratifiedTotal",
    "allocate",
    "assess_accuracy",
    "draw_ranks",
    "draw_sample",
    "locate_ranks",
    "parse_reference",
    "stratified_estimate",
    "stratified_total",
]
