"""Datasets: ingestion of ISPRS Potsdam/Vaihingen, image/mask folders and vector labels; training windows."""
