"""The networks (U-Net and the encoder-decoder family), their catalogue, checkpoints and the inference runtime."""
