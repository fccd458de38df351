"""Fashion-MNIST for the shipped model: IDX loading, the exact preprocessing, augmentation, BN recalibration and
evaluation helpers shared by tools/train_supernet.py and tools/select_operating_points.py.

Preprocessing is the library's image path (reference.preprocess_image with crop_ratio 1.0) done on batches: a
28x28 uint8 image is scaled to [0, 1], resized to the sub-network's resolution with antialiased bilinear
interpolation (identity at 28), then normalised. So the stored accuracies are what `infer` on the raw images gives.
"""
import gzip
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

from . import arch as A

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
# Channel statistics of the 60k training images (measured; fixed here so every package has the same input spec)
MEAN, STD = 0.2860, 0.3530
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path):
    """IDX file (optionally gzip) -> numpy uint8 array. Magic: 0x0000, dtype 0x08 (ubyte), ndim; big-endian dims."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not a ubyte IDX file")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    array = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(dims)):
        raise ValueError(f"{path}: {array.size} values, header says {dims}")
    return array.reshape(dims)


def load(directory=DEFAULT_DIR, split="train"):
    """(images uint8 tensor [N, 28, 28], labels int64 tensor [N]) of split 'train' or 't10k'."""
    x = read_idx(os.path.join(directory, f"{split}-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(directory, f"{split}-labels-idx1-ubyte.gz"))
    return torch.from_numpy(x.copy()), torch.from_numpy(y.astype(np.int64))


def arch_and_input(resolutions=(24, 28, 32)):
    """The shipped family: MobileNetV3 layout narrowed for 28x28 grey input (largest k7 e6 d4 ~10 MMACs at 32).

    Stem stride 2 and stage strides 2,2,2,1,1 take 32x32 to 16/8/4/2/2/2: the last stages work on 2x2 maps,
    which keeps the largest sub-network inside the 2-core training budget.
    """
    arch = A.ofa_mbv3(1.0, n_classes=10, in_channels=1, ks_list=[3, 5, 7], expand_ratio_list=[3, 4, 6],
                      depth_list=[2, 3, 4], base_widths=[16, 16, 24, 32, 48, 64, 96, 384, 512],
                      strides=[2, 2, 2, 1, 1], stem_stride=2)
    spec = {"channels": 1, "mean": [MEAN], "std": [STD], "resolutions": sorted(resolutions), "crop_ratio": 1.0}
    return arch, spec


def preprocess(images_u8, resolution):
    """uint8 [B, 28, 28] (or [B, 1, H, W] float in [0, 1]) -> normalised [B, 1, r, r]."""
    x = images_u8.float().div(255.0).unsqueeze(1) if images_u8.dtype == torch.uint8 else images_u8
    if x.shape[-2:] != (resolution, resolution):
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=True)
    return (x - MEAN) / STD


def augment(images_u8, generator, pad=2):
    """Random crop with `pad` pixels of zero padding and random horizontal flip, per image, as [B, 1, 28, 28]
    floats in [0, 1]. Background is black, so zero padding is a plausible shift."""
    b, h, w = images_u8.shape
    x = F.pad(images_u8.float().div(255.0), (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    rows = (oy[:, None] + torch.arange(h))[:, :, None]
    cols = (ox[:, None] + torch.arange(w))[:, None, :]
    x = x[torch.arange(b)[:, None, None], rows, cols]
    flip = torch.rand(b, generator=generator) < 0.5
    x = torch.where(flip[:, None, None], x.flip(-1), x)
    return x.unsqueeze(1)


def batches(images, resolution, batch_size=500):
    for i in range(0, len(images), batch_size):
        yield preprocess(images[i:i + batch_size], resolution)


def calibration_images(train_x, n=2000, seed=0):
    """A fixed random subset of training images for BN recalibration (OFA uses ~2000 images)."""
    idx = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(seed))[:n]
    return train_x[idx]


@torch.no_grad()
def calibrate(net, config, calib_x, batch_size=250):
    """Per-subnet BN statistics {layer: (mean, var)} of `config` (see Supernet.calibrate)."""
    net.set_active(config)
    return net.calibrate(batches(calib_x, config["r"], batch_size))


@torch.no_grad()
def evaluate(net, config, stats, test_x, test_y, batch_size=500):
    """Top-1 accuracy (fraction) of `config` with per-subnet BN statistics `stats`; the supernet's own running
    statistics are restored afterwards so evaluation never disturbs training."""
    saved = {name: (m.running_mean.clone(), m.running_var.clone()) for name, m in net.bn_modules()}
    was_training = net.training
    net.eval()
    try:
        net.set_active(config)
        net.load_bn_stats(stats)
        correct = 0
        for i, x in enumerate(batches(test_x, config["r"], batch_size)):
            pred = net(x).argmax(1)
            correct += int((pred == test_y[i * batch_size:(i + 1) * batch_size]).sum())
    finally:
        for name, m in net.bn_modules():
            m.running_mean.copy_(saved[name][0])
            m.running_var.copy_(saved[name][1])
        net.train(was_training)
    return correct / len(test_x)
