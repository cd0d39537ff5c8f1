"""CIFAR ResNets and DLRM for PyTorch (``torch_resnet``, ``torch_dlrm``) and Keras 3 (``keras_resnet``, ``keras_dlrm``).

Both frameworks build the same architecture from the same config (``config``), with the same parameter count, so a
job can switch ``framework:`` without changing what is trained. This package imports neither framework: import the
module of the one you use (the Keras modules set ``KERAS_BACKEND=torch`` unless it is already set).
"""
