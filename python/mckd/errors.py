"""The one exception type the command line turns into a clean one-line error."""


class MckdError(Exception):
    """A user-facing error: bad input, missing file, impossible setting.

    The message should name the file and line (or record) and what is wrong.
    """


class TreeError(MckdError, ValueError):
    """A malformed tree or an impossible tree operation, raised by the C++ core (`mckd._core`).

    A MckdError, so a core error reaches the user as a clean one-line message with no wrapper
    to convert it; a ValueError, as it always was.
    """
