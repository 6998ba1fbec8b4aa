"""The Python package's extension, built by the project's CMake tree (pyproject.toml has the rest).

`cmake --build BUILD --target _gradflow`, then the module is copied in beside the package's files.
BUILD is $GRADFLOW_BUILD_DIR, else build/ — configured as scripts/train.sh and scripts/test.sh
configure it (Release) when it is not yet, so a checkout that has run either script installs in
seconds — for Debian's Python (a venv made from it included); another Python gets a build folder
of its own, build-python-X.Y.
"""
import glob
import os
import re
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))
DEBIAN = os.path.realpath(sys.executable) == os.path.realpath("/usr/bin/python3")
BUILD = os.path.abspath(os.environ.get("GRADFLOW_BUILD_DIR") or os.path.join(
    ROOT, "build" if DEBIAN else f"build-python-{sys.version_info[0]}.{sys.version_info[1]}"))


def version():
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        return re.search(r"project\(gradflow VERSION ([0-9.]+)", f.read()).group(1)


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        cache = os.path.join(BUILD, "CMakeCache.txt")
        configured = os.path.exists(cache) and "CMAKE_BUILD_TYPE:STRING=Release" in open(cache).read()
        if not configured:
            python = [] if DEBIAN else [f"-DGRADFLOW_PYTHON_EXECUTABLE={sys.executable}"]
            subprocess.check_call(["cmake", "-S", ROOT, "-B", BUILD, "-DCMAKE_BUILD_TYPE=Release", *python],
                                  stdout=subprocess.DEVNULL)
        subprocess.check_call(["cmake", "--build", BUILD, "-j", str(os.cpu_count() or 1), "--target", "_gradflow"])
        built = glob.glob(os.path.join(BUILD, "python", "gradflow", "_gradflow*.so"))
        if len(built) != 1:
            sys.exit(f"setup.py: expected one _gradflow module in {BUILD}/python/gradflow, found {built} "
                     "(is pybind11-dev installed? bash scripts/deps.sh installs it)")
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(built[0], target)


setup(version=version(), ext_modules=[Extension("gradflow._gradflow", sources=[])], cmdclass={"build_ext": CMakeBuild},
      # setuptools' own work folder: build/ is CMake's
      options={"build": {"build_base": os.path.join(BUILD, "setuptools")}, "egg_info": {"egg_base": BUILD}})
