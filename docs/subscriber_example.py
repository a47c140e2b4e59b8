"""Minimal subscriber to `infant-stream run --zmq`: python docs/subscriber_example.py [ENDPOINT]."""

import json
import sys

import zmq

endpoint = sys.argv[1] if len(sys.argv) > 1 else "tcp://127.0.0.1:5555"
sock = zmq.Context().socket(zmq.SUB)
sock.connect(endpoint)
sock.setsockopt_string(zmq.SUBSCRIBE, "parts.")  # also: "status.", "frame." (3 parts: topic, header, jpeg)
while True:
    topic, payload = sock.recv_multipart()
    record = json.loads(payload)
    parts = [f"{p['name']}#{p['track_id']} {p['smoothed']}" for p in record["parts"]]
    print(record["source"], record["seq"], ", ".join(parts), flush=True)
