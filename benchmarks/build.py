"""Compile the benchmarks' baselines (``harness/_minimal_c.pyx``) in place.

    python benchmarks/build.py

Run it in the environment where fastseg is installed from this checkout
(``pip install ".[bench]"``): the baselines cimport fastseg's checksum core
from the source tree, and are compiled with the options fastseg's own
extensions use, so that a ratio between the two compares like with like.
Nothing here is installed with fastseg.
"""

from __future__ import annotations

import os
import sys
import tempfile

from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def main() -> int:
    os.chdir(HERE)
    module = Extension("harness._minimal_c", ["harness/_minimal_c.pyx"],
                       include_dirs=[os.path.join(ROOT, "fastseg")], extra_compile_args=["-O3"])
    with tempfile.TemporaryDirectory(prefix="fastseg-benchmarks-") as scratch:
        setup(name="fastseg-benchmarks", script_args=["-q", "build_ext", "--inplace", "--build-temp", scratch,
                                                    "--build-lib", scratch],
              ext_modules=cythonize([module], include_path=[ROOT], language_level=3, quiet=True,
                                    compiler_directives={"binding": True, "embedsignature": True}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
