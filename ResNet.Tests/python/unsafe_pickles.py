"""Writes weights files that must be refused (ResNet.Tests/WeightsTests.cs), into OUT:

  system.pth        a torch.save zip whose data.pkl calls os.system (posix.system) next to a real tensor
  eval.pth          the same with builtins.eval
  custom_class.pth  a state dict holding an instance of a user class (__main__.Payload)
  stack_global.pth  a zip whose data.pkl (protocol 4) names os.system through STACK_GLOBAL and the memo
  legacy.pth        a harmless state dict in PyTorch's legacy (pre-1.6) format
  not_tensor.pth    a state dict with a string value (safe globals, but not a tensor)

Each "marker" payload would create OUT/<name>.ran when loaded by Python, which the tests use to prove the
files are really harmful: `unsafe_pickles.py --load FILE...` loads them with torch.load.
"""
import builtins
import os
import sys
import zipfile

import torch


class Payload:
    def __init__(self, call, arg):
        self.call, self.arg = call, arg

    def __reduce__(self):
        return self.call, (self.arg,)


class Custom:
    pass


def touch_command(path):
    return f"touch '{path}'"


def main(out):
    tensor = torch.zeros(2, 3)
    marker = lambda name: os.path.join(out, name + ".ran")
    torch.save({"w": tensor, "x": Payload(os.system, touch_command(marker("system")))}, os.path.join(out, "system.pth"))
    torch.save({"w": tensor, "x": Payload(builtins.eval, f"open({marker('eval')!r}, 'w').close()")},
               os.path.join(out, "eval.pth"))
    torch.save({"w": tensor, "x": Custom()}, os.path.join(out, "custom_class.pth"))
    torch.save({"w": tensor}, os.path.join(out, "legacy.pth"), _use_new_zipfile_serialization=False)
    torch.save({"w": tensor, "name": "not a tensor"}, os.path.join(out, "not_tensor.pth"))

    # Protocol 4 names globals with STACK_GLOBAL of two strings from the stack; fetch them from the memo so that
    # a scanner which only looks at the opcodes just before STACK_GLOBAL misses them.
    command = touch_command(marker("stack_global")).encode()
    data = (b"\x80\x04"
            b"\x8c\x05posix\x94" b"0"       # SHORT_BINUNICODE 'posix', MEMOIZE (0), POP
            b"\x8c\x06system\x94" b"0"      # SHORT_BINUNICODE 'system', MEMOIZE (1), POP
            b"h\x00h\x01\x93"                # BINGET 0, BINGET 1, STACK_GLOBAL
            + b"\x8c" + bytes([len(command)]) + command +
            b"\x85R.")                      # TUPLE1, REDUCE, STOP
    with zipfile.ZipFile(os.path.join(out, "stack_global.pth"), "w") as z:
        z.writestr("archive/data.pkl", data)
        z.writestr("archive/version", "3\n")


if __name__ == "__main__":
    if sys.argv[1] == "--load":  # run the payloads with Python's own loader, to prove they are live
        for path in sys.argv[2:]:
            try:
                torch.load(path)
            except Exception:
                pass  # a payload's return value is not a state dict; what matters is that it ran
    else:
        main(sys.argv[1])
