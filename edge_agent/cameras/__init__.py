"""Cameras: RTSP ingest, motion events, snapshots and clips."""
