"""--source-dir and --entry-point: the user's code, on the verbs that train or serve it."""

from __future__ import annotations

from byoc.driver import sourcedir


def add_source_flags(group, *, script: str) -> None:
    """--source-dir and --entry-point on a verb (or its argument group), as the SDK names them;
    `script` says what the entry point is for that verb."""
    group.add_argument("--source-dir", metavar="DIR",
                       help="directory with your code, sent to the container (without "
                            f"{', '.join(sorted(sourcedir.SKIPPED))}; at most "
                            f"{sourcedir.MAX_BYTES // 1024**2} MiB); "
                            "its requirements.txt is installed first")
    group.add_argument("--entry-point", metavar="FILE",
                       help=f"your {script}: a path inside --source-dir; alone, its own "
                            "directory is the source directory")
