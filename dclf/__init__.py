"""dclf: a JAX/Flax distortion classifier (reference / blur / noise ...).

A reimplementation of the CS230 (Winter 2020) poster "Distortion Classifier Using Deep
Convolutional Neural Networks" and its Keras code.
"""

__version__ = "0.1.0"
