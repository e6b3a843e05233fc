"""Optional payload encryption: an AES-GCM PayloadCodec and the codec endpoint the Temporal Web UI calls."""
