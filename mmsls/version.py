"""The version of mmsls, written only here: setup.py and ``mmsls.__version__`` read it."""
__version__ = '0.1.0'
