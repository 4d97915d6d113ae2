"""The inference runtime: engines (torch/ONNX, TTA), the sliding-window plan and blending, and the one driver
that runs sliding windows over a raster into a writer (used by predict, evaluate, mosaic and training validation)."""
