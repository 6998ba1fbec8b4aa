"""Fashion-MNIST from Debian's dataset-fashion-mnist, as float tensors in [0, 1] (for the
PyTorch side of the benchmarks)."""
import gzip
import struct

import torch

ROOT = "/usr/share/datasets/fashion-mnist"


def load(prefix, root=ROOT):
    """prefix "train" or "t10k" -> (x [N, 784] float32, y [N] int64)."""
    with gzip.open(f"{root}/{prefix}-images-idx3-ubyte.gz") as f:
        _, n, r, c = struct.unpack(">IIII", f.read(16))
        x = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8).reshape(n, r * c).float() / 255
    with gzip.open(f"{root}/{prefix}-labels-idx1-ubyte.gz") as f:
        f.read(8)
        y = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8).long()
    return x, y
