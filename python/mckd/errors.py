"""The one exception type the command line turns into a clean one-line error."""


class MckdError(Exception):
    """A user-facing error: bad input, missing file, impossible setting.

    The message should name the file and line (or record) and what is wrong.
    """
