"""Shared utilities of every layer: parameter and input checks, labels, image arrays, files.

Internal to skpneumo: nothing here is re-exported by the package, and these modules
import nothing from the rest of it but :mod:`skpneumo.exceptions`.
"""
