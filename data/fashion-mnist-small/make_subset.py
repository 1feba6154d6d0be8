#!/usr/bin/python3
"""Builds the committed Fashion-MNIST subset of this folder, exactly and reproducibly.

Recipe: from Debian's dataset-fashion-mnist package (/usr/share/datasets/fashion-mnist), take the FIRST
1,000 images of each class, in file order, from the training set (10,000 images) and the FIRST 200 of each
class from the test set (2,000 images). Images and labels keep their original file order. The IDX files are
written gzip-compressed with mtime 0, so rerunning this script gives byte-identical files (see SHA256SUMS).

Usage: /usr/bin/python3 data/fashion-mnist-small/make_subset.py [SOURCE_DIR]
"""
import gzip, os, struct, sys

SRC = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
DST = os.path.dirname(os.path.abspath(__file__))
PER_CLASS = {"train": 1000, "t10k": 200}


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, count = struct.unpack(">II", data[:8])
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return data[:4], shape, data[4 + 4 * dims:]


def write_idx(path, magic, shape, payload):
    header = magic + struct.pack(">" + "I" * len(shape), *shape)
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
            f.write(header + payload)


for split, per_class in PER_CLASS.items():
    imagic, ishape, images = read_idx(os.path.join(SRC, f"{split}-images-idx3-ubyte.gz"))
    lmagic, lshape, labels = read_idx(os.path.join(SRC, f"{split}-labels-idx1-ubyte.gz"))
    rows, cols = ishape[1], ishape[2]
    taken, keep = [0] * 10, []
    for i, label in enumerate(labels):
        if taken[label] < per_class:
            taken[label] += 1
            keep.append(i)
    size = rows * cols
    write_idx(os.path.join(DST, f"{split}-images-idx3-ubyte.gz"), imagic, (len(keep), rows, cols),
              b"".join(images[i * size:(i + 1) * size] for i in keep))
    write_idx(os.path.join(DST, f"{split}-labels-idx1-ubyte.gz"), lmagic, (len(keep),),
              bytes(labels[i] for i in keep))
    print(f"{split}: {len(keep)} images ({per_class} per class) of {ishape[0]}")
