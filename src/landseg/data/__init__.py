"""Datasets: source layouts (ISPRS, image/mask folders, vector labels) ingested into prepared tiles, and training windows."""
