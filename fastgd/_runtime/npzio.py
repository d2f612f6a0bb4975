"""Writing .npz files atomically, and reading them so that no file can run code, crash
with a zipfile traceback or make fastgd allocate more than the file holds.

Design: ``np.load`` trusts the sizes a file declares: a 1 KB file whose .npy header says
``shape=(10**10,)`` gets ~37 GB allocated before the read fails, and a truncated or
bit-flipped file ends in ``zipfile.BadZipFile`` or ``EOFError`` deep in NumPy. Here each
member's zip entry and .npy header are parsed first; the dtype must be a plain number or
string type (never object, so no pickle), and the declared size must be what the entry
really holds, which is bounded by the file's size (a deflated entry by deflate's maximum
ratio). Only then is the array allocated and filled, and zipfile checks the entry's CRC-32
at its end, so a flipped data bit is caught too. Every problem is a ``ValueError`` naming
the file and the problem; a missing file stays ``FileNotFoundError``.

Writes go to a temporary file in the target's directory, which is fsync'ed and then
``os.replace``'d over the target (and the directory fsync'ed): a crash mid-write leaves the
previous file whole.
"""
import io
import math
import os
import stat
import tempfile
import zipfile
import zlib

import numpy as np

__all__ = ["write_npz", "write_atomically", "NpzReader", "npz_path"]

# Deflate cannot expand more than ~1032:1; anything claiming more is lying about its size.
_MAX_DEFLATE_RATIO = 1100
_MAX_MEMBERS = 100_000
_MAX_HEADER = 10_000          # np.lib.format's own default limit for a .npy header
_ALLOWED_KINDS = "biufU"      # bool, ints, floats, unicode strings: nothing with pickle


def npz_path(path):
    """The path ``np.savez`` would write: ``.npz`` appended to a str/PathLike without it."""
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    return path if path.endswith(".npz") else path + ".npz"


def write_npz(path, arrays):
    """Write ``arrays`` (name -> array) as an uncompressed .npz at ``path`` atomically.

    ``path``: a str/PathLike (``.npz`` appended when missing, as ``np.savez`` does) or an
    open binary file (written in place, no atomicity). Returns the path written."""
    if hasattr(path, "write"):
        np.savez(path, **arrays)
        return path
    final = npz_path(path)
    write_atomically(final, lambda f: np.savez(f, **arrays))
    return final


def write_atomically(path, write, *, follow_links=False):
    """``write(binary file object)`` into ``path`` so a crash mid-write leaves the old file.

    A temporary file in the destination's folder is written, fsync'ed and ``os.replace``'d
    over the destination, then the folder is fsync'ed; an existing file's permission bits
    are kept (a new file gets what ``open`` would give: 0666 less the umask; mkstemp alone
    makes 0600). A symbolic link at ``path`` is replaced by the file, and what it pointed
    at is left alone (a link named like a model file may point at the training data),
    unless ``follow_links``: then its target is replaced -- for callers that have checked
    the target (the CLI's ``check_output``). Special files (``/dev/stdout``, a pipe)
    cannot be renamed over and are written directly.
    """
    real = os.path.realpath(path) if follow_links else os.path.abspath(path)
    if os.path.exists(real) and not os.path.islink(real) \
            and not stat.S_ISREG(os.stat(real).st_mode):
        with open(real, "wb") as f:
            write(f)
        return
    folder = os.path.dirname(real) or "."
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(real) + ".", suffix=".tmp",
                               dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if os.path.exists(real) and not os.path.islink(real):
            os.chmod(tmp, stat.S_IMODE(os.stat(real).st_mode))
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, real)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(folder)


def _fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:          # some platforms cannot open a directory; the rename still holds
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class NpzReader:
    """An .npz opened for checked reads: ``names``, ``info(name)`` -> (shape, dtype) from
    the header only, ``read(name, ...)`` -> array. Use as a context manager.

    ``what`` names the kind of file in messages ("model file", "checkpoint")."""

    def __init__(self, path, what="file"):
        self.what = what
        self.label = repr(getattr(path, "name", path)) if hasattr(path, "read") \
            else repr(os.fspath(path))
        self._zip = None
        try:
            if hasattr(path, "read"):
                pos = path.tell()
                path.seek(0, io.SEEK_END)
                self.file_size = path.tell() - pos
                path.seek(pos)
            else:
                self.file_size = os.path.getsize(path)
            self._zip = zipfile.ZipFile(path)
            infos = self._zip.infolist()
        except FileNotFoundError:
            raise
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError,
                NotImplementedError, RuntimeError) as e:
            self.close()
            raise self.error(f"not a valid .npz (zip) file, truncated or corrupted: "
                             f"{e}") from None
        if len(infos) > _MAX_MEMBERS:
            self.close()
            raise self.error(f"holds {len(infos)} entries, more than any fastgd {what}")
        self._infos = {}
        for info in infos:
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            problem = self._entry_problem(info)
            if problem:
                self.close()
                raise self.error(f"entry {name!r} {problem}")
            self._infos[name] = info
        self._headers = {}

    def error(self, problem):
        return ValueError(f"{self.what} {self.label}: {problem}")

    def _entry_problem(self, info):
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            return f"uses an unsupported compression (method {info.compress_type})"
        if info.flag_bits & 0x1:
            return "is encrypted"
        if info.header_offset + info.compress_size > self.file_size:
            return (f"declares {info.compress_size} bytes at offset {info.header_offset}, "
                    f"past the end of the {self.file_size}-byte file (truncated?)")
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            return (f"declares {info.file_size} bytes but stores {info.compress_size} "
                    "(corrupted)")
        if info.file_size > _MAX_DEFLATE_RATIO * info.compress_size + 1024:
            return (f"declares {info.file_size} bytes from {info.compress_size} compressed "
                    "bytes, more than deflate can expand (corrupted or hostile)")
        return None

    @property
    def names(self):
        return list(self._infos)

    def __contains__(self, name):
        return name in self._infos

    def info(self, name):
        """(shape, dtype) from the entry's .npy header, checked against the entry's size."""
        if name in self._headers:
            return self._headers[name][:2]
        if name not in self._infos:
            raise self.error(f"has no entry {name!r} (is it a fastgd {self.what}?)")
        try:
            with self._zip.open(self._infos[name]) as fp:
                version = np.lib.format.read_magic(fp)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(
                        fp, max_header_size=_MAX_HEADER)
                elif version in ((2, 0), (3, 0)):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(
                        fp, max_header_size=_MAX_HEADER)
                else:
                    raise ValueError(f"unknown .npy version {version}")
                offset = fp.tell()
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, TypeError,
                SyntaxError, RuntimeError) as e:
            raise self.error(f"entry {name!r} has a corrupted array header: {e}") from None
        if dtype.hasobject or dtype.kind not in _ALLOWED_KINDS or dtype.fields is not None \
                or dtype.subdtype is not None:
            raise self.error(f"entry {name!r} has dtype {dtype}, which no fastgd {self.what} "
                             "holds (object arrays would need pickle)")
        declared = math.prod(shape) * dtype.itemsize
        held = self._infos[name].file_size - offset
        if declared != held:
            raise self.error(f"entry {name!r} declares shape {shape} of {dtype} "
                             f"({declared} bytes) but holds {held} bytes (truncated, "
                             "corrupted or hostile)")
        self._headers[name] = (tuple(shape), dtype, fortran)
        return tuple(shape), dtype

    def read(self, name, *, dtype=None, shape=None, ndim=None, max_bytes=None):
        """The array ``name``, after checking its header against what the caller expects
        (``dtype``: a dtype or a tuple of dtype kinds; ``shape``; ``ndim``; ``max_bytes``)."""
        got_shape, got_dtype = self.info(name)
        if dtype is not None:
            kinds = isinstance(dtype, str)
            if not (got_dtype.kind in dtype if kinds else got_dtype == np.dtype(dtype)):
                want = _kinds(dtype) if kinds else np.dtype(dtype)
                raise self.error(f"{name}: expected {want}, got {got_dtype}")
        if ndim is not None and len(got_shape) != ndim:
            raise self.error(f"{name}: expected a {ndim}-D array, got shape {got_shape}")
        if shape is not None and got_shape != tuple(shape):
            raise self.error(f"{name}: expected shape {tuple(shape)}, got {got_shape}")
        nbytes = math.prod(got_shape) * got_dtype.itemsize
        if max_bytes is not None and nbytes > max_bytes:
            raise self.error(f"{name}: expected at most {max_bytes} bytes, got shape "
                             f"{got_shape} of {got_dtype}")
        fortran = self._headers[name][2]
        out = np.empty(got_shape, dtype=got_dtype, order="F" if fortran else "C")
        try:
            with self._zip.open(self._infos[name]) as fp:
                # read the header again rather than seek: a seek may skip the CRC check
                head = self._infos[name].file_size - nbytes
                if len(fp.read(head)) != head:
                    raise EOFError("entry ended inside its header")
                view = memoryview(out.reshape(-1, order="A").view(np.uint8))
                done = 0
                while done < nbytes:
                    n = fp.readinto(view[done:])
                    if not n:
                        raise EOFError(f"entry ended after {done} of {nbytes} bytes")
                    done += n
                if fp.read(1):
                    raise ValueError("entry holds more bytes than its header declares")
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as e:
            raise self.error(f"entry {name!r} is corrupted or truncated: {e}") from None
        return out

    def read_str(self, name, max_chars=1 << 20):
        a = self.read(name, dtype="U", ndim=0, max_bytes=4 * max_chars)
        return str(a[()])

    def close(self):
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _kinds(kinds):
    names = {"b": "bool", "i": "integers", "u": "unsigned integers", "f": "floats",
             "U": "a string"}
    return " or ".join(names[k] for k in kinds)
