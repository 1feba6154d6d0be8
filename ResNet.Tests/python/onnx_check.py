"""onnx's full checker (strict shape inference included) over ONNX files; prints 'ok PATH' for each one that passes."""
import sys

import onnx

for path in sys.argv[1:]:
    onnx.checker.check_model(onnx.load(path), full_check=True)
    print("ok", path)
