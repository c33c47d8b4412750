"""Build the Cython twins; fall back to pure Python where they cannot be compiled.

FASTSEG_NO_EXTENSIONS=1 skips them; FASTSEG_REQUIRE_EXTENSIONS=1 turns a failed
compile into an error.  Set FASTSEG_SANITIZE=1 for an ASan/UBSan build.
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

MODULES = ["_buffer", "_addr_c", "_checksum_c", "_options_c", "_segment_c", "_codec_c", "_seq_c",
           "capture._frames", "capture._reader_c", "capture._columns_c", "analyze._script_c"]


def _flag(name):
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


class OptionalBuildExt(build_ext):
    """build_ext that degrades to a pure-Python install unless extensions are required."""

    def run(self):
        try:
            super().run()
        except Exception as exc:
            self._give_up(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._give_up(exc)

    def _give_up(self, exc):
        if _flag("FASTSEG_REQUIRE_EXTENSIONS"):
            raise
        print(f"fastseg: building {exc!r} failed; installing the pure-Python twins only",
              file=sys.stderr)


def extensions():
    if _flag("FASTSEG_NO_EXTENSIONS"):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        if _flag("FASTSEG_REQUIRE_EXTENSIONS"):
            raise
        return []
    unix = os.name != "nt"
    compile_args = ["-O3"] if unix else ["/O2"]
    link_args = []
    if _flag("FASTSEG_SANITIZE"):
        sanitize = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                    "-fno-sanitize-recover=undefined"]
        compile_args = ["-O1", "-g", *sanitize]
        link_args = sanitize
    modules = [
        Extension(f"fastseg.{name}", [f"fastseg/{name.replace('.', '/')}.pyx"],
                  depends=["fastseg/_csum.h"],
                  extra_compile_args=compile_args, extra_link_args=link_args)
        for name in MODULES
    ]
    try:
        return cythonize(modules, language_level=3, annotate=_flag("FASTSEG_ANNOTATE"),
                         compiler_directives={"binding": True, "embedsignature": True})
    except Exception as exc:
        if _flag("FASTSEG_REQUIRE_EXTENSIONS"):
            raise
        print(f"fastseg: cythonize failed ({exc!r}); installing the pure-Python twins only",
              file=sys.stderr)
        return []


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
