"""The networks (U-Net and the encoder/decoder family), their checkpoints, domain records and the model catalogue."""
