"""Training and evaluation code and the shipped ONNX models."""
