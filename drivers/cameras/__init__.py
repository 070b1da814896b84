"""Camera sources: PyAV for RTSP (TCP) and files, plus the remuxing clip writer."""
