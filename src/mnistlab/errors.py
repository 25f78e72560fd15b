"""User-facing errors: the CLI prints their message on one line and exits non-zero."""


class MnistlabError(Exception):
    """A problem the user can fix (bad file, missing data, bad flag). No traceback is shown."""

    exit_code = 2


class DataError(MnistlabError):
    """Data files missing, corrupt, truncated or failing their checksum."""


class DownloadError(DataError):
    """Every mirror failed."""


class ModelConfigError(MnistlabError, ValueError):
    """A model option out of its range (a config file's model_config, the Python API)."""


class CheckpointError(MnistlabError):
    """A model folder that cannot be loaded."""


class TrainingInterrupted(MnistlabError):
    """Ctrl-C during training; the message says how to continue."""

    exit_code = 130
