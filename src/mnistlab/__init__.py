"""mnistlab: handwritten-digit recognition on MNIST, from verified data to a drawing page."""

__version__ = "0.1.0"
