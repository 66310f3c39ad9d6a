"""Domain errors: each says what was wrong, where, and how to fix it."""


class CrawlerError(Exception):
    """Base class of every error the crawler reports to its user."""

    exit_code = 1


class ConfigError(CrawlerError):
    """The configuration (file, environment or flags) is invalid."""

    exit_code = 2


class SeedError(CrawlerError):
    """A seed file cannot be read or understood."""

    exit_code = 2


class StoreError(CrawlerError):
    """The archive database cannot be opened, migrated or written."""

    exit_code = 1


class ArchiveUnusableError(StoreError):
    """The archive cannot be used where it is (not writable, not an archive, a newer schema): a setup problem."""

    exit_code = 2


class RunLockedError(CrawlerError):
    """Another run holds the archive lock."""

    exit_code = 75


class RunInterruptedError(CrawlerError):
    """The run was stopped by a signal (Ctrl-C, SIGTERM) before it finished."""

    exit_code = 130
