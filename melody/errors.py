"""The error types melody raises for a user's mistake, and the exit code each one means.

Everything a user can get wrong (a bad file, a bad option, a bad model folder) raises a
subclass of `MelodyError`. The CLI turns one into a single line on stderr and exits with the
error's `exit_code`; anything else is a bug and keeps its traceback. The codes are the same
for every command (README, "Scripting"):

    0    done
    1    bad music or model content (a file that does not parse, an incomplete model folder),
         or work that failed (a disk that refuses a write, FluidSynth failing)
    2    usage or missing input (a bad option or value, a file or folder that is not there,
         an output that exists without --force, a program --format wav needs)
    130  interrupted (SIGINT, Ctrl-C)
    129  hung up (SIGHUP: the terminal closed)
    143  terminated (SIGTERM)
"""

from __future__ import annotations


class MelodyError(Exception):
    """A problem the user can fix; its `str()` is the one line the CLI prints."""

    exit_code = 1


class UsageError(MelodyError):
    """A bad option, value or combination of options, or an input that is not there."""

    exit_code = 2


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the process is so that clean-up runs as for Ctrl-C.

    A KeyboardInterrupt, so that everything which saves its work on Ctrl-C (training's
    checkpoint) does so on a polite kill too. The CLI exits 128 + `signum` (143, 129).
    """

    def __init__(self, signum: int | None = None) -> None:
        import signal

        super().__init__()
        self.signum = int(signum if signum is not None else signal.SIGTERM)

    @property
    def name(self) -> str:
        """"SIGTERM", "SIGHUP", ..."""
        import signal

        return signal.Signals(self.signum).name


class MusicError(MelodyError):
    """Bad music input: names the file, and the tune and line:column where there is one."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        tune: str | int | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.tune = tune
        self.line = line
        self.column = column

    def located(self, *, file: str | None = None, tune: str | int | None = None) -> MusicError:
        """This error with the file (and tune) filled in where it did not know them yet."""
        return type(self)(
            self.message,
            file=self.file or file,
            tune=self.tune if self.tune is not None else tune,
            line=self.line,
            column=self.column,
        )

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(str(self.file))
        if self.line is not None:
            where.append(f"{self.line}:{self.column}" if self.column is not None else str(self.line))
        prefix = ":".join(where)
        tune = f" (tune {self.tune})" if self.tune is not None else ""
        if prefix:
            return f"{prefix}:{tune} {self.message}" if tune else f"{prefix}: {self.message}"
        return f"tune {self.tune}: {self.message}" if self.tune is not None else self.message


class ModelError(MelodyError):
    """A model folder that is missing, incomplete, tampered with or incompatible."""


class MissingMusicFile(MusicError):
    """A music file the user named that is not there: missing input, so a usage exit code."""

    exit_code = 2


class OutputError(MelodyError):
    """A write the machine refused (disk full, read-only, no permission): work that failed, exit 1."""


class FolderBusy(MelodyError):
    """A model folder another melody run is writing now (exit 1: wait, or choose another)."""


class NotAModelFolder(ModelError):
    """A --model path that is missing, a file, or a folder without config.json (exit 2)."""

    exit_code = 2
