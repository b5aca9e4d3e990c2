"""The one reader and the one writer of files: regular files only, a size cap, inside the folder given.

Reading: :func:`read_text` opens only regular files (a named pipe would wait for a writer forever, a device
such as ``/dev/zero`` never ends), reads at most its limit, and, given a folder, refuses a path that leads
out of it, symbolic links followed. Writing: :func:`replace_folder` fills a new folder beside the target
and swaps it in, and refuses a target holding anything an earlier run did not write, so that nothing of
the user's is ever removed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
import os
from pathlib import Path, PurePosixPath
import shutil
import stat
import tempfile
from typing import Literal

from .errors import Problem, show

KIB = 1024
MIB = 1024 * KIB
MAX_CONFIG_BYTES = 4 * MIB
"""The configuration file: the examples are under 1 KB, and a fleet of 1,000 identities, each with its
own inline list of the guide's 63 actions, is about 1.8 MB."""
MAX_POLICY_BYTES = 1 * MIB
"""A policy file, a policy template or a partial. The most a user can be granted is 20 managed policies of
6,144 characters without whitespace (122,880 characters): 1 MiB leaves room for any indentation."""
MAX_PLAN_BYTES = 16 * MIB
"""A ``terraform show -json`` plan of one stack (and the ``cdk.tf.json`` beside it): the largest the tests
make, a stack granting all 780 EC2 actions in several policies, is about 100 KB."""
MAX_RECORD_BYTES = 1 * MIB
"""Small files other tools write and the tool only peeks into (Terraform's backend record)."""

Verdict = Literal["ours", "folder", "foreign"]
"""What an entry of a folder about to be replaced is: written by an earlier run (or kept from it), a folder
whose entries are judged one by one, or anything else, which refuses the replacement."""
Judge = Callable[[PurePosixPath, Path], Verdict]
"""Judges an entry by its path relative to the folder and its full path (never follow its links)."""
_SHOWN_ENTRIES = 5


Reason = Literal["missing", "outside", "not-a-file", "too-large", "unreadable", "not-replaceable"]


class RefusedError(Exception):
    """A file that is not read, or a folder that is not replaced: why, and what to do about it."""

    def __init__(self, why: str, fix: str, *, reason: Reason) -> None:
        super().__init__(why)
        self.why = why
        self.fix = fix
        self.reason = reason
        """In a word, for callers that word some cases their own way (``missing``, ``outside`` ...)."""

    @property
    def missing(self) -> bool:
        """Nothing is there at all."""
        return self.reason == "missing"

    def problem(self, where: str, given: str) -> Problem:
        """This refusal as a :class:`Problem` at ``where`` (the key) about ``given`` (the value)."""
        return Problem(where, given, self.why, self.fix)


# ---------------------------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------------------------


def read_text(path: Path, *, limit: int, inside: Path | None = None, encoding: str = "utf-8-sig") -> str:
    """The text of the regular file ``path`` (at most ``limit`` bytes; with ``inside``, a file in that folder).

    Raises :class:`RefusedError` as :func:`read_bytes` does, and when the file is not text in ``encoding``
    (UTF-8, a byte-order mark allowed, by default).
    """
    data = read_bytes(path, limit=limit, inside=inside)
    if encoding.startswith("utf-8") and is_utf16(data):
        raise RefusedError(UTF16_WHY, UTF16_FIX, reason="unreadable")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        raise RefusedError(f"cannot be read ({error})", "check the path and encoding", reason="unreadable") from None


UTF16_WHY = "is UTF-16 text (what Windows PowerShell's `>` writes), not UTF-8"
UTF16_FIX = "save it as UTF-8: in an editor's save dialog, or in PowerShell with `| Out-File -Encoding utf8 FILE` instead of `> FILE`"
_UTF16_SAMPLE = 64


def is_utf16(data: bytes) -> bool:
    """Whether ``data`` is UTF-16 text: a UTF-16 byte-order mark, or, without one, text whose first characters
    are ASCII with a zero byte beside each (no UTF-8 text has that)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    sample = data[: min(len(data), _UTF16_SAMPLE) // 2 * 2]
    first, second = sample[0::2], sample[1::2]
    return bool(sample) and ((all(first) and not any(second)) or (all(second) and not any(first)))


def read_bytes(path: Path, *, limit: int, inside: Path | None = None) -> bytes:
    """The content of the regular file ``path``: at most ``limit`` bytes; with ``inside``, a file in that folder.

    Raises :class:`RefusedError` when it is missing, not a regular file (a named pipe is refused before it
    is opened, so nothing waits for a writer), larger than ``limit``, outside ``inside`` once symbolic links
    are followed, or unreadable.
    """
    given = path
    if inside is not None:
        path = inside_folder(path, inside)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(given):
            raise RefusedError(
                "is a broken symbolic link", "point the link at a file, or name the file itself", reason="not-a-file"
            ) from None
        raise RefusedError("does not exist", "check the path", reason="missing") from None
    except (OSError, ValueError) as error:  # a NUL byte, a name too long, no permission on a folder
        raise _unreadable(error) from None
    if not stat.S_ISREG(mode):
        raise _not_a_file(_kind_of_mode(mode))
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except (OSError, ValueError) as error:
        raise _unreadable(error) from None
    with os.fdopen(descriptor, "rb") as opened:
        # Checked again on what was opened: the path may have been swapped for a pipe since the stat above.
        status = os.fstat(opened.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise _not_a_file(_kind_of_mode(status.st_mode))
        if status.st_size > limit:
            raise _too_large(status.st_size, limit)
        try:
            data = opened.read(limit + 1)
        except OSError as error:
            raise _unreadable(error) from None
    if len(data) > limit:
        raise _too_large(len(data), limit)
    return data


def read_head(path: Path, size: int = 4 * KIB) -> str:
    """The first ``size`` bytes of ``path`` as text (undecodable bytes replaced), or ``""`` if it is not a
    regular file or cannot be read: for recognising a file by its first line."""
    if kind_of(path) is not None:
        return ""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC | os.O_NOFOLLOW)
        with os.fdopen(descriptor, "rb") as opened:
            if not stat.S_ISREG(os.fstat(opened.fileno()).st_mode):
                return ""
            return opened.read(size).decode("utf-8", errors="replace")
    except (OSError, ValueError):
        return ""


def inside_folder(path: Path, folder: Path) -> Path:
    """``path`` with its symbolic links followed, if that lies in ``folder`` (its links followed too).

    Raises :class:`RefusedError` otherwise: an absolute path elsewhere, ``..`` out of the folder, or a link
    pointing out of it. What the path names need not exist yet.
    """
    try:
        base = folder.resolve()
        resolved = path.resolve()
    except (OSError, ValueError, RuntimeError) as error:  # a NUL byte, a name too long, a loop of links
        raise _unreadable(error) from None
    if not resolved.is_relative_to(base):
        raise RefusedError(
            f"leads outside {base} (to {resolved})",
            f"keep the file in {base} or a folder below it, and name it by its path relative to that folder",
            reason="outside",
        )
    return resolved


def kind_of(path: Path) -> str | None:
    """``None`` for a regular file (symbolic links followed); otherwise what ``path`` is, in words.

    ``"missing"`` when nothing is there; ``"a broken symbolic link"``, ``"a folder"``, ``"a named pipe (FIFO)"``,
    ``"a character device"``, ``"a block device"``, ``"a socket"``, or ``"unreadable (reason)"``.
    """
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return "a broken symbolic link" if os.path.islink(path) else "missing"
    except (OSError, ValueError) as error:
        return f"unreadable ({_reason(error)})"
    if stat.S_ISREG(status.st_mode):
        return None
    return _kind_of_mode(status.st_mode)


def _kind_of_mode(mode: int) -> str:
    for test, kind in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


def _not_a_file(kind: str) -> RefusedError:
    return RefusedError(
        f"is {kind}, not a regular file", "name a regular file (not a folder, a pipe or a device)", reason="not-a-file"
    )


def _too_large(size: int, limit: int) -> RefusedError:
    return RefusedError(
        f"is {size:,} bytes or more, over the limit of {size_in_words(limit)} for such a file",
        "check that the path names the right file; no valid input of this kind is that large",
        reason="too-large",
    )


def size_in_words(size: int) -> str:
    """``1 MiB``, ``4 KiB``, ``100 bytes``: a limit as the documentation states it."""
    for unit, name in ((MIB, "MiB"), (KIB, "KiB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size:,} bytes"


def _unreadable(error: BaseException) -> RefusedError:
    return RefusedError(
        f"cannot be read ({_reason(error)})", "check the path and the file's permissions", reason="unreadable"
    )


def _reason(error: BaseException) -> str:
    return error.strerror if isinstance(error, OSError) and error.strerror else str(error)


# ---------------------------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------------------------


def is_regular_file(path: Path) -> bool:
    """A regular file itself, not a symbolic link to one."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except (OSError, ValueError):
        return False


def is_real_folder(path: Path) -> bool:
    """A folder itself, not a symbolic link to one."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except (OSError, ValueError):
        return False


def foreign_entries(folder: Path, judge: Judge) -> list[str]:
    """What ``folder`` holds that ``judge`` does not call an earlier run's, by relative path (folders end in /)."""
    found: list[str] = []
    pending = [PurePosixPath()]
    while pending:
        current = pending.pop()
        with os.scandir(folder / current) as entries:
            listed = sorted(entries, key=lambda entry: entry.name)
        for entry in listed:
            relative = current / entry.name
            verdict = judge(relative, Path(entry.path))
            if verdict == "folder" and entry.is_dir(follow_symlinks=False):
                pending.append(relative)
            elif verdict != "ours":
                found.append(f"{relative}/" if entry.is_dir(follow_symlinks=False) else str(relative))
    return sorted(found)


def check_replaceable(target: Path, judge: Judge, *, written_by: str) -> None:
    """Raise :class:`RefusedError` unless ``target`` is missing, an empty folder, or holds only what ``judge`` accepts.

    ``written_by`` names the earlier run in the refusal (``"a synthesis"``, ``"an export"``). A symbolic
    link is refused, whatever it points to: replacing it would replace the link, not the folder.
    """
    if os.path.islink(target):
        raise RefusedError(
            f"is a symbolic link (to {os.readlink(target)}); the output folder is replaced as a whole, "
            "and a link would be replaced by a folder",
            "give the path of the folder itself, or a new folder",
            reason="not-replaceable",
        )
    if not os.path.lexists(target):
        return
    if not is_real_folder(target):
        raise RefusedError(
            f"is {kind_of(target) or 'a file'}, not a folder", "give a new or empty folder", reason="not-replaceable"
        )
    try:
        foreign = foreign_entries(target, judge)
    except OSError as error:
        raise _unreadable(error) from None
    if foreign:
        shown = ", ".join(show(name) for name in foreign[:_SHOWN_ENTRIES])
        more = len(foreign) - _SHOWN_ENTRIES
        raise RefusedError(
            f"holds {shown}{f' and {more} more' if more > 0 else ''}, which {written_by} did not write; "
            "writing there would replace the folder and lose them",
            f"give a new or empty folder (or one that holds only {written_by}), or move those out",
            reason="not-replaceable",
        )


def replace_folder(
    target: Path,
    fill: Callable[[Path], None],
    *,
    judge: Judge,
    written_by: str,
    carry_over: Callable[[Path, Path], None] = lambda old, new: None,
) -> None:
    """Let ``fill`` write into a new folder beside ``target``, then put that folder in ``target``'s place.

    ``target`` must pass :func:`check_replaceable` before ``fill`` runs and again before the swap, or
    :class:`RefusedError` is raised and nothing is changed. Until the swap, ``target`` is untouched: a failing
    ``fill`` leaves it as it was. After it, ``carry_over(old, new)`` moves what must survive from the
    previous folder into the new one, and the rest of the previous folder, all of it an earlier run's,
    is removed.
    """
    target = Path(os.path.abspath(target))
    check_replaceable(target, judge, written_by=written_by)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    retired = staging.with_name(staging.name + ".old")
    try:
        fill(staging)
        check_replaceable(target, judge, written_by=written_by)
        if os.path.lexists(target):
            target.rename(retired)
        staging.rename(target)
        if is_real_folder(retired):
            carry_over(retired, target)
            # Only once everything worth keeping has moved: a failure above leaves it in the retired folder.
            shutil.rmtree(retired, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_files(folder: Path, files: Mapping[str, str]) -> None:
    """Write each text of ``files`` (by path relative to ``folder``) as a new regular file in ``folder``.

    A path leading out of ``folder``, or one already there, raises :class:`RefusedError`: the folder is a
    fresh one, and nothing in it is overwritten or reached through a link.
    """
    for relative, text in files.items():
        pure = PurePosixPath(relative)
        if pure.is_absolute() or not pure.parts or any(part in ("", ".", "..") for part in pure.parts):
            raise RefusedError(
                f"{relative!r} is not a path inside the output folder", "report this as a bug", reason="outside"
            )
        target = folder.joinpath(*pure.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        with os.fdopen(os.open(target, flags, 0o666), "w", encoding="utf-8", newline="") as opened:
            opened.write(text)


def replace_file_text(path: Path, text: str, *, limit: int) -> None:
    """Replace the text of the regular file ``path`` (not a link: the link's target would be replaced by a file)
    with ``text``, at most ``limit`` bytes in UTF-8: written in full beside it, then renamed over it, so that a
    reader never sees half a file and a failure leaves the old one; its permissions are kept."""
    data = text.encode("utf-8")
    if len(data) > limit:
        raise _too_large(len(data), limit)
    if not is_regular_file(path):
        kind = kind_of(path) or "a symbolic link"
        raise RefusedError(
            f"is {kind}, not a regular file to rewrite", "edit the file it stands for", reason="not-a-file"
        )
    mode = stat.S_IMODE(os.lstat(path).st_mode)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as opened:
            opened.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
