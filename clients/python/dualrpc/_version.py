"""The package version: dualrpc's project version (CMakeLists.txt's project()).

pyproject.toml reads it from here; the install test (tests/install_test.py)
fails if it differs from the CMake project's.
"""

__version__ = "0.1.0"
