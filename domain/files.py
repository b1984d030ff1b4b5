"""Files the service writes for an operator (an audit export, a backup): whole or not at all."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def written_whole(path: Path, mode: int = 0o600) -> Iterator[Path]:
    """The file the block writes (`path` + ".partial", readable by its owner only), which replaces `path` when
    the block ends well and is removed whatever stopped it (an error, a full disk, Ctrl-C). Refused when
    `path` is there and is not a regular file: a device, a directory or a symbolic link is never written
    over (as root, a CSV in place of /dev/null is what nobody meant)."""
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise FileExistsError(errno.EEXIST, "it is there and not a regular file: not written over", str(path))
    partial = path.with_name(path.name + ".partial")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()  # a leftover of a run killed outright
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode))
    try:
        os.chmod(partial, mode)  # whatever the umask
        yield partial
        partial.replace(path)
    finally:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
