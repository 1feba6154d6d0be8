"""Runs a command and reports its peak resident memory (the kernel's high-water mark of the child and its
descendants, getrusage RUSAGE_CHILDREN) on stderr as `peak_rss_kb N`; exits with the command's status."""
import resource
import subprocess
import sys

code = subprocess.call(sys.argv[1:])
print(f"peak_rss_kb {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}", file=sys.stderr, flush=True)
sys.exit(code if code >= 0 else 128 - code)
