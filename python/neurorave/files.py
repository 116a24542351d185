"""Writing and reading the package's own files safely: atomic replacement, JSON, and
errors that name the file a user knows (not a temporary or a handle)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def write_atomically(path: str | Path, write) -> None:
    """Write through a temporary file in the same folder, then rename over `path`.

    A crash or a bad export never leaves a half-written file where a good one was.
    An OSError names `path`, not the temporary file (or no file, as a full disk does).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        # mkstemp's 0600 would surprise whoever shares the file. After the write: some
        # writers replace the file they are given (safetensors makes its own, 0600 too).
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as error:
        if error.filename is None or Path(error.filename).name.startswith(f".{path.name}."):
            raise naming(error, path) from error
        raise
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)


def naming(error: OSError, path: str | Path) -> OSError:
    """The same error about `path`: what a user knows, not a temporary or a handle."""
    return OSError(error.errno, error.strerror or str(error), str(path))


def write_json_atomically(path: str | Path, data, indent: int | None = None) -> None:
    write_atomically(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=indent)))


def read_json(path: str | Path):
    """A JSON file the package wrote; a ValueError naming it when it is not JSON."""
    try:
        return json.loads(Path(path).read_text())
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"{path}: damaged, not JSON ({error})") from None


def files_under(root: str | Path) -> list[Path]:
    """Every file under `root`, sorted, following linked folders (each real folder once).

    `Path.rglob` does not follow a link to a folder, so a data set assembled from links
    (`test/audio -> /data/notes`) would read as empty; a link back up the tree is walked
    only once.
    """
    found, seen = [], set()
    for folder, subfolders, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            subfolders.clear()
            continue
        seen.add(real)
        found += [Path(folder) / name for name in names]
    return sorted(found)


__all__ = ["files_under", "naming", "read_json", "write_atomically", "write_json_atomically"]
