"""Result sinks: JSON Lines, CSV, ZeroMQ, H.264 recordings and the monitor window (one thread each)."""
