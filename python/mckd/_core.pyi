# Type stub for the native module; kept in step with cpp/bind_*.cpp.
__version__: str
