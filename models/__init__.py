"""The two networks: policy/ (frame → action chunk) and overlay_parser/ (overlay crops → pad state).

Each is split as LeRobot splits a policy: configuration, modeling, processor. Both are saved and
loaded one way (io.py) and trained through Lightning with the same checkpoint conventions
(training.py).
"""
