"""How mmsls's tools write files: never over what they read, never half-written.

A tool that writes ``out`` refuses when ``out`` is one of its inputs (the checkpoint, the backbone
checkpoint, the config ...), unless the user forces it; and it writes to a temporary file next to
``out`` that is renamed into place only once complete, so a failed or interrupted run leaves the old
file (or none), never a truncated one.
"""
import os
import os.path as osp
import uuid
from contextlib import contextmanager
from typing import Iterable, Iterator, Optional


def _same_file(path: str, other: str) -> bool:
    if osp.exists(path) and osp.exists(other):
        return osp.samefile(path, other)
    return osp.realpath(path) == osp.realpath(other)


def check_not_an_input(out: str, inputs: Iterable[Optional[str]], force: bool = False,
                       force_flag: str = '--force') -> None:
    """Refuse to write ``out`` when it is (a link to) one of ``inputs``, unless ``force``.

    Args:
        out (str): The file the tool is about to write.
        inputs (Iterable[str | None]): What the tool reads; None entries and URLs
            (``scheme://...``) are skipped.
        force (bool): Write anyway (the write is still atomic: the input is read completely
            before it is replaced). Defaults to False.
        force_flag (str): The option that sets ``force``, named in the error.

    Raises:
        FileExistsError: ``out`` is one of ``inputs`` and ``force`` is False.
    """
    if force:
        return
    for source in inputs:
        if source is None or '://' in str(source):
            continue
        if _same_file(os.fspath(out), os.fspath(source)):
            raise FileExistsError(
                f'refusing to write {out}: it is an input of this run ({source}) and would be '
                f'overwritten. Choose another output path, or pass {force_flag} to replace it')


@contextmanager
def atomic_write(path: str) -> Iterator[str]:
    """Yield a temporary path next to ``path``; on success rename it to ``path``, else delete it.

    The temporary name keeps ``path``'s extension (writers such as ``mmengine.dump`` and
    ``Config.dump`` choose the format from it) and starts with a dot. The rename is atomic on one
    file system: readers see the old file or the complete new one.
    """
    path = os.fspath(path)
    directory, name = osp.split(osp.abspath(path))
    extension = osp.splitext(name)[1]
    temporary = osp.join(directory, f'.{name}.{uuid.uuid4().hex[:8]}.tmp{extension}')
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if osp.exists(temporary):
            os.remove(temporary)
