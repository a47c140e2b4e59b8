"""Result sinks (JSON Lines now; ZeroMQ, window and video come with the live-outputs work)."""
