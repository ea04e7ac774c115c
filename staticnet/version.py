"""The version of staticnet: in model files, the ONNX producer field and the compile cache's keys."""
__version__ = "0.1.0"
