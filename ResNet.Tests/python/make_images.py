"""Writes the image files of the command-line and decoding tests (ResNet.Tests/CliTests.cs) into OUT.

  good/   readable images in every supported flavour, 48x40 (non-square), seeded random content:
          rgb.jpg, gray.jpg (8-bit grayscale JPEG), progressive.jpg, gray.png, rgba.png (varying alpha), palette.png,
          rgb.bmp (24-bit), UPPER.PNG, nested/deep.png, trailer.jpg (bytes after the end-of-image marker)
  bad/    unreadable ones: empty.png, text.jpg (not an image), truncated.jpg, truncated.png, truncated.bmp
  ref/    what the good ones must decode to, as RGB PNGs: gray.png, palette.png, rgb.bmp.png as PIL's
          convert("RGB"); rgba.png composited over black (ML.NET decodes with premultiplied alpha)
  other/  notes.txt (not an image extension, so folder search ignores it)
"""
import os
import random
import sys

from PIL import Image


def noise(mode, size, seed):
    rng = random.Random(seed)
    bands = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    data = bytes(rng.randrange(256) for _ in range(size[0] * size[1] * bands))
    return Image.frombytes(mode, size, data)


def premultiplied(rgba):
    """RGB composited over black, rounded to nearest: what ML.NET's MLImage (SkiaSharp, premultiplied alpha) decodes."""
    import numpy
    a = numpy.asarray(rgba).astype(numpy.int64)
    rgb = (2 * a[..., :3] * a[..., 3:] + 255) // 510
    return Image.fromarray(rgb.astype(numpy.uint8), "RGB")


def main(out):
    for sub in ("good/nested", "bad", "ref", "other"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    good = lambda name: os.path.join(out, "good", name)
    bad = lambda name: os.path.join(out, "bad", name)
    ref = lambda name: os.path.join(out, "ref", name)
    size = (48, 40)

    rgb = noise("RGB", size, 1)
    rgb.save(good("rgb.jpg"), quality=95)
    noise("L", size, 2).save(good("gray.jpg"), quality=95)
    noise("RGB", size, 9).save(good("progressive.jpg"), quality=90, progressive=True, optimize=True)
    gray = noise("L", size, 3)
    gray.save(good("gray.png"))
    gray.convert("RGB").save(ref("gray.png"))
    rgba = noise("RGBA", size, 4)
    rgba.save(good("rgba.png"))
    premultiplied(rgba).save(ref("rgba.png"))
    palette = noise("RGB", size, 5).quantize(colors=16)
    palette.save(good("palette.png"))
    palette.convert("RGB").save(ref("palette.png"))
    bmp = noise("RGB", size, 6)
    bmp.save(good("rgb.bmp"))
    bmp.save(ref("rgb.bmp.png"))
    noise("RGB", size, 7).save(good("UPPER.PNG"))
    noise("RGB", size, 8).save(os.path.join(out, "good", "nested", "deep.png"))
    with open(good("rgb.jpg"), "rb") as f:
        jpeg = f.read()
    with open(good("trailer.jpg"), "wb") as f:
        f.write(jpeg + b"\x00" * 100 + b"appended data, e.g. a motion photo's video")

    open(bad("empty.png"), "wb").close()
    with open(bad("text.jpg"), "w") as f:
        f.write("this is not an image\n")
    with open(bad("truncated.jpg"), "wb") as f:
        f.write(jpeg[: len(jpeg) * 6 // 10])
    with open(good("UPPER.PNG"), "rb") as f:
        png = f.read()
    with open(bad("truncated.png"), "wb") as f:
        f.write(png[: len(png) * 7 // 10])
    with open(good("rgb.bmp"), "rb") as f:
        bmp_bytes = f.read()
    with open(bad("truncated.bmp"), "wb") as f:
        f.write(bmp_bytes[: len(bmp_bytes) * 8 // 10])
    with open(os.path.join(out, "other", "notes.txt"), "w") as f:
        f.write("not an image\n")


if __name__ == "__main__":
    main(sys.argv[1])
